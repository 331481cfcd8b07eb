// seamq_nats without a server: URL lists, error classification, message building.
#include <gtest/gtest.h>

#include "seamq/core/redaction.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/nats/message.hpp"

namespace seamq::nats {
namespace {

TEST(ConnectionOptions, SplitsCommaSeparatedUrlsAndDropsBlanks) {
    EXPECT_EQ(ConnectionOptions::split_urls("nats://a:1, nats://b:2 ,,nats://c:3"),
              (std::vector<std::string>{"nats://a:1", "nats://b:2", "nats://c:3"}));
    EXPECT_TRUE(ConnectionOptions::split_urls(" , ").empty());
    EXPECT_EQ(ConnectionOptions::from_urls("nats://x:4222").servers,
              std::vector<std::string>{"nats://x:4222"});
}

TEST(ConnectionOptions, InboxPrefixesAreSubjectTokensWithoutWildcards) {
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem(""), "");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("_INBOX_worker-sea"), "");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("_INBOX.sea"), "");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("_INBOX.>"), "may not hold the wildcards * or >");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("a.*"), "may not hold the wildcards * or >");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("a b"),
              "may not hold white space or control characters");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem(".a"),
              "may not have an empty token (a leading, trailing or doubled '.')");
    EXPECT_EQ(ConnectionOptions::inbox_prefix_problem("a..b"),
              "may not have an empty token (a leading, trailing or doubled '.')");
}

// The core masker, on the shapes of NATS server lists.
TEST(RedactUrl, HidesThePasswordOrTokenOfEachUrlAndNothingElse) {
    EXPECT_EQ(mask_url_credentials("nats://worker-sea:s3cret@127.0.0.1:4222"),
              "nats://worker-sea:***@127.0.0.1:4222");
    EXPECT_EQ(mask_url_credentials("nats://t0ken@nats:4222"), "nats://***@nats:4222");
    EXPECT_EQ(mask_url_credentials("nats://a:p@h:1,nats://h:2, tls://b:q@h:3"),
              "nats://a:***@h:1,nats://h:2, tls://b:***@h:3");
    EXPECT_EQ(mask_url_credentials("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    // An @ in a password (percent-encoded or not) ends at the last @ of the authority.
    EXPECT_EQ(mask_url_credentials("nats://u:p@ss@h:1"), "nats://u:***@h:1");
    EXPECT_EQ(mask_url_credentials("nats://h:1/path@x"), "nats://h:1/path@x");
    // Without a scheme nats.c reads nats://; sea-mq adds it to every URL it is given.
    EXPECT_EQ(ConnectionOptions::split_urls("u:p@h:1, h:2"),
              (std::vector<std::string>{"nats://u:p@h:1", "nats://h:2"}));
    EXPECT_EQ(mask_url_credentials(ConnectionOptions::with_scheme("u:p@h:1")), "nats://u:***@h:1");
    EXPECT_EQ(mask_url_credentials(""), "");
}

TEST(ConnectionOptions, NoUrlIsAUsageError) {
    try {
        Connection connection(ConnectionOptions::from_urls(" "));
        FAIL() << "expected an error";
    } catch (const seamq::Error& e) {
        EXPECT_EQ(e.code(), Errc::invalid_argument);
        EXPECT_NE(std::string(e.what()).find("no NATS server URL"), std::string::npos);
    }
}

TEST(Classify, ElectionsAndTimeoutsAreTransientRequestErrorsPermanent) {
    EXPECT_EQ(classify(NATS_TIMEOUT, 0), ErrorKind::transient);
    EXPECT_EQ(classify(NATS_NO_RESPONDERS, 0), ErrorKind::transient);
    EXPECT_EQ(classify(NATS_ERR, JSNotEnabledErr), ErrorKind::transient);  // nats.c's "no responders"
    EXPECT_EQ(classify(NATS_ERR, JSClusterNotAvailErr), ErrorKind::transient);
    EXPECT_EQ(classify(NATS_CONNECTION_CLOSED, 0), ErrorKind::transient);
    EXPECT_EQ(classify(NATS_ERR, JSStreamNotMatchErr), ErrorKind::permanent);
    EXPECT_EQ(classify(NATS_ERR, JSStreamMessageExceedsMaximumErr), ErrorKind::permanent);
    EXPECT_EQ(classify(NATS_MAX_PAYLOAD, 0), ErrorKind::permanent);
    EXPECT_EQ(classify(NATS_INVALID_SUBJECT, 0), ErrorKind::permanent);

    const NatsError election("publish", NATS_ERR, JSNotEnabledErr, ErrorKind::transient);
    EXPECT_TRUE(election.no_responders());
    EXPECT_FALSE(election.timed_out());
    EXPECT_EQ(election.code(), Errc::nats);
}

TEST(Message, NativeMessageCarriesIdExpectedStreamAndHeadersInOrder) {
    OutgoingMessage outgoing{"sea.event.created.v1",
                             "{}",
                             "id-1",
                             "SEA_EVENTS",
                             {{"traceparent", "00-abc-def-01"}, {"X-Many", "1"}, {"X-Many", "2"}}};
    Message message(make_native_message(outgoing), nullptr);
    EXPECT_EQ(message.subject(), "sea.event.created.v1");
    EXPECT_EQ(message.payload(), "{}");
    EXPECT_EQ(message.message_id(), "id-1");
    EXPECT_EQ(message.header("Nats-Expected-Stream"), "SEA_EVENTS");
    EXPECT_EQ(message.header("traceparent"), "00-abc-def-01");
    EXPECT_EQ(message.header("missing"), std::nullopt);
    int many = 0;
    for (const auto& [key, value] : message.headers())
        if (key == "X-Many") {
            EXPECT_EQ(value, std::to_string(++many));
        }
    EXPECT_EQ(many, 2);
    EXPECT_FALSE(message.status_code());
    EXPECT_FALSE(message.is_jetstream());
    EXPECT_THROW(message.ack(), seamq::Error);
}

}  // namespace
}  // namespace seamq::nats
