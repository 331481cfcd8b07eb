#include "seamq/core/redaction.hpp"

#include <gtest/gtest.h>

using namespace seamq;

TEST(MaskUrlCredentials, KeepsTheUserAndMasksThePassword) {
    EXPECT_EQ(mask_url_credentials("nats://user:pa55@127.0.0.1:4222"), "nats://user:***@127.0.0.1:4222");
    EXPECT_EQ(mask_url_credentials("postgresql://app:S3cr3t@db.example:5432/orders?sslmode=require"),
              "postgresql://app:***@db.example:5432/orders?sslmode=require");
    EXPECT_EQ(mask_url_credentials("https://u:p@host/path"), "https://u:***@host/path");
    EXPECT_EQ(mask_url_credentials("nats://user:@h:4222"), "nats://user:***@h:4222");
    EXPECT_EQ(mask_url_credentials("nats://:pw@h:4222"), "nats://:***@h:4222");
}

TEST(MaskUrlCredentials, MasksATokenWhole) {
    EXPECT_EQ(mask_url_credentials("nats://s3cr3t-token@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
    EXPECT_EQ(mask_url_credentials("tls://tok@nats.example:4443"), "tls://***@nats.example:4443");
}

TEST(MaskUrlCredentials, LeavesUrlsWithoutUserInfoAlone) {
    for (const auto* url :
         {"nats://127.0.0.1:4222", "postgresql://127.0.0.1:5432/db", "http://[::1]:8222/varz",
          "nats://[fe80::1%25eth0]:4222", "", "no url here", "://", "a://@b", "mailto:x@y"})
        EXPECT_EQ(mask_url_credentials(url), url);
}

TEST(MaskUrlCredentials, MasksEveryUrlOfACommaSeparatedList) {
    EXPECT_EQ(mask_url_credentials("nats://a:p1@h1:4222,nats://h2:4222,nats://tok@h3:4222"),
              "nats://a:***@h1:4222,nats://h2:4222,nats://***@h3:4222");
    EXPECT_EQ(mask_url_credentials("nats://h1:4222, nats://b:p2@h2:4222"),
              "nats://h1:4222, nats://b:***@h2:4222");
    // nats.c takes a server without a scheme too: over-masking beats a leak.
    EXPECT_EQ(mask_url_credentials("nats://h1:4222,b:p2@h2:4222"), "nats://h1:***@h2:4222");
    EXPECT_EQ(mask_url_credentials("nats://tok@h1:4222,b@h2:4222"), "nats://***@h2:4222");
}

TEST(MaskUrlCredentials, HandlesIpv6Hosts) {
    EXPECT_EQ(mask_url_credentials("nats://u:p@[::1]:4222"), "nats://u:***@[::1]:4222");
    EXPECT_EQ(mask_url_credentials("postgresql://u:p@[2001:db8::1]:5432/db"),
              "postgresql://u:***@[2001:db8::1]:5432/db");
    EXPECT_EQ(mask_url_credentials("nats://tok@[::1]:4222"), "nats://***@[::1]:4222");
}

TEST(MaskUrlCredentials, AnAtInThePathOrQueryIsNoUserInfo) {
    EXPECT_EQ(mask_url_credentials("http://host:8080/users/a@b.c"), "http://host:8080/users/a@b.c");
    EXPECT_EQ(mask_url_credentials("https://host?mail=a@b.c"), "https://host?mail=a@b.c");
    EXPECT_EQ(mask_url_credentials("https://host#a@b"), "https://host#a@b");
    EXPECT_EQ(mask_url_credentials("postgresql://u:p@h/db?application_name=x@y"),
              "postgresql://u:***@h/db?application_name=x@y");
    EXPECT_EQ(mask_url_credentials("https://u:p@host/a@b"), "https://u:***@host/a@b");
}

TEST(MaskUrlCredentials, APasswordMayHoldAtColonAndForLibpqQuestionMarks) {
    EXPECT_EQ(mask_url_credentials("nats://u:p@ss:w@h:4222"), "nats://u:***@h:4222");
    // libpq reads user info up to the '@' before the first '/': '?' and '#' are password bytes.
    EXPECT_EQ(mask_url_credentials("postgresql://u:a?b#c@h:5432/db"), "postgresql://u:***@h:5432/db");
    EXPECT_EQ(mask_url_credentials("postgres://u:a?b@h/db"), "postgres://u:***@h/db");
}

TEST(MaskUrlCredentials, FindsUrlsInsideSentences) {
    EXPECT_EQ(mask_url_credentials("connecting to NATS at 'nats://u:p@127.0.0.1:4222': no servers available"),
              "connecting to NATS at 'nats://u:***@127.0.0.1:4222': no servers available");
    EXPECT_EQ(mask_url_credentials("connect to \"postgresql://app:pw@h/db\" failed"),
              "connect to \"postgresql://app:***@h/db\" failed");
    EXPECT_EQ(mask_url_credentials("(nats://u:p@h:1) and <http://v:q@w/>"),
              "(nats://u:***@h:1) and <http://v:***@w/>");
    EXPECT_EQ(mask_url_credentials("url=nats://u:p@h:1\nnext=tls://t@h:2"),
              "url=nats://u:***@h:1\nnext=tls://***@h:2");
}

TEST(MaskPasswordParameters, MasksLibpqKeyValuePasswords) {
    EXPECT_EQ(mask_password_parameters("host=h port=5432 user=app password=S3cr3t dbname=orders"),
              "host=h port=5432 user=app password=*** dbname=orders");
    EXPECT_EQ(mask_password_parameters("password = S3cr3t host=h"), "password = *** host=h");
    EXPECT_EQ(mask_password_parameters("host=h password=S3cr3t"), "host=h password=***");
    EXPECT_EQ(mask_password_parameters("sslpassword=k PASSWORD=x"), "sslpassword=*** PASSWORD=***");
}

TEST(MaskPasswordParameters, MasksQuotedValuesWithSpacesAndEscapes) {
    EXPECT_EQ(mask_password_parameters("host=h password='a b' dbname=d"), "host=h password='***' dbname=d");
    EXPECT_EQ(mask_password_parameters(R"(password='it\'s a b' dbname=d)"), "password='***' dbname=d");
    EXPECT_EQ(mask_password_parameters("password='never closed dbname=d"), "password='***'");
    EXPECT_EQ(mask_password_parameters("password=''"), "password='***'");
}

TEST(MaskPasswordParameters, MasksTheQueryParameterOfPostgresUrls) {
    EXPECT_EQ(mask_password_parameters("postgresql://app@h/db?password=S3cr3t&sslmode=require"),
              "postgresql://app@h/db?password=***&sslmode=require");
    EXPECT_EQ(mask_password_parameters("postgresql://h/db?sslmode=require&password=a%20b"),
              "postgresql://h/db?sslmode=require&password=***");
    EXPECT_EQ(mask_password_parameters("postgresql://h/db?password=x#frag"),
              "postgresql://h/db?password=***#frag");
}

TEST(MaskPasswordParameters, LeavesOtherTextAlone) {
    for (const auto* text :
         {"", "password", "password is required", "password=", "passwords=none?", "user=app"})
        EXPECT_EQ(mask_password_parameters(text), text);
}

TEST(MaskCredentials, MasksUrlsAndParametersTogetherAndIsIdempotent) {
    const std::string text =
        "nats://u:p1@h:4222,nats://tok@h2 and postgresql://app:p2@db/x?password=p3 and host=db password='p "
        "4'";
    const auto masked = mask_credentials(text);
    EXPECT_EQ(masked,
              "nats://u:***@h:4222,nats://***@h2 and postgresql://app:***@db/x?password=*** and host=db "
              "password='***'");
    EXPECT_EQ(mask_credentials(masked), masked);
}

// Found by the fuzzer: a quote inside an unquoted value whose key ends in "password" ran
// to the real password's opening quote, leaving the real value unmasked.
TEST(MaskPasswordParameters, AQuoteInsideAnotherValueCannotHideTheRealPassword) {
    const std::string text = R"(host=hxpassword='a\d password='s3cret with spaces' dbname=d)";
    const auto masked = mask_password_parameters(text);
    EXPECT_EQ(masked.find("s3cret"), std::string::npos) << masked;
    EXPECT_NE(masked.find("dbname=d"), std::string::npos) << masked;
    EXPECT_EQ(mask_password_parameters(masked), masked);
}
