// The any-language producer contract seamq.enqueue against a real PostgreSQL: rows derived
// from the envelope, clear SQL errors for bad envelopes, the type grammar in agreement
// with the C++ validator and the schema, NOTIFY only at commit, and the npm `pg` client.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/envelope/envelope.hpp"
#include "seamq/outbox/schema.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/postgres/transaction.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::outbox {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::filesystem::path source_dir() {
    return std::getenv("SEAMQ_SOURCE_DIR");
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

json valid_envelope(const std::string& id, const std::string& subject = "order-1") {
    return json{{"specversion", "1.0"},
                {"id", id},
                {"source", "/sea/orders"},
                {"type", "sea.event.order-placed.v1"},
                {"subject", subject},
                {"time", "2024-05-01T12:00:00.123456Z"},
                {"datacontenttype", "application/json"},
                {"data", {{"order_id", subject}, {"total", 42}}}};
}

class Outbox : public ::testing::Test {
protected:
    void SetUp() override { postgres::migrate(connection_, source_dir() / "db" / "migrations"); }

    std::string enqueue(const json& envelope) {
        return connection_.exec("SELECT seamq.enqueue($1::jsonb)", envelope.dump()).get<std::string>(0, 0);
    }
    int count_rows() { return connection_.exec("SELECT count(*) FROM seamq.outbox_events").get<int>(0, 0); }

    testing::PostgresServer server_;
    postgres::Connection connection_{server_.connection_string()};
};

TEST_F(Outbox, EnqueueWritesOneRowDerivedFromTheEnvelope) {
    const json envelope = valid_envelope("evt-1");
    EXPECT_EQ(enqueue(envelope), "evt-1");

    const auto row = connection_.exec(
        "SELECT id, position, context, subject, type, envelope::text, status, attempts, last_error, "
        "published_at, "
        "stream_sequence, created_at <= now() AS created_before_now FROM seamq.outbox_events");
    ASSERT_EQ(row.rows(), 1);
    EXPECT_EQ(row.get<std::string>(0, "id"), "evt-1");
    EXPECT_GE(row.get<std::int64_t>(0, "position"), 1);
    EXPECT_EQ(row.get<std::string>(0, "context"), "sea");
    EXPECT_EQ(row.get<std::string>(0, "subject"), "order-1");
    EXPECT_EQ(row.get<std::string>(0, "type"), "sea.event.order-placed.v1");
    EXPECT_EQ(json::parse(row.get<std::string>(0, "envelope")), envelope);
    EXPECT_EQ(row.get<std::string>(0, "status"), "pending");
    EXPECT_EQ(row.get<int>(0, "attempts"), 0);
    EXPECT_TRUE(row.is_null(0, "last_error"));
    EXPECT_TRUE(row.is_null(0, "published_at"));
    EXPECT_TRUE(row.is_null(0, "stream_sequence"));
    EXPECT_TRUE(row.get<bool>(0, "created_before_now"));

    // time and datacontenttype may be left out; the stored envelope gets them.
    json minimal = valid_envelope("evt-2");
    minimal.erase("time");
    minimal.erase("datacontenttype");
    EXPECT_EQ(enqueue(minimal), "evt-2");
    const json stored =
        json::parse(connection_.exec("SELECT envelope::text FROM seamq.outbox_events WHERE id = 'evt-2'")
                        .get<std::string>(0, 0));
    EXPECT_EQ(stored.at("datacontenttype"), "application/json");
    EXPECT_TRUE(envelope::Validator().validate_document(stored).empty()) << stored.dump();

    // Columns written by a caller are ignored: the envelope is the truth.
    connection_.exec(
        "INSERT INTO seamq.outbox_events (id, position, context, subject, type, envelope, status) "
        "VALUES ('forged', 1, 'other', 'x', 'y', $1::jsonb, 'published')",
        valid_envelope("evt-3", "order-3").dump());
    const auto direct = connection_.exec(
        "SELECT id, context, subject, status, position > 1 FROM seamq.outbox_events WHERE id = 'evt-3'");
    ASSERT_EQ(direct.rows(), 1);
    EXPECT_EQ(direct.get<std::string>(0, 1), "sea");
    EXPECT_EQ(direct.get<std::string>(0, 2), "order-3");
    EXPECT_EQ(direct.get<std::string>(0, 3), "pending");
    EXPECT_TRUE(direct.get<bool>(0, 4));

    // Several in one call, in order.
    const auto many =
        connection_.exec("SELECT seamq.enqueue_many(ARRAY[$1::jsonb, $2::jsonb])::text",
                         valid_envelope("evt-4", "b").dump(), valid_envelope("evt-5", "a").dump());
    EXPECT_EQ(many.get<std::string>(0, 0), "{evt-4,evt-5}");
    const auto order = connection_.exec("SELECT id FROM seamq.outbox_events ORDER BY position");
    ASSERT_EQ(order.rows(), 5);
    EXPECT_EQ(order.get<std::string>(3, 0), "evt-4");
    EXPECT_EQ(order.get<std::string>(4, 0), "evt-5");
}

TEST_F(Outbox, EnqueueRefusesBadEnvelopesWithClearSqlErrors) {
    struct Case {
        std::string name;
        std::function<void(json&)> change;
        std::string sqlstate;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"no id", [](json& e) { e.erase("id"); }, "SQ001", "required attribute \"id\" is missing"},
        {"no source", [](json& e) { e.erase("source"); }, "SQ001",
         "required attribute \"source\" is missing"},
        {"no subject", [](json& e) { e.erase("subject"); }, "SQ001",
         "required attribute \"subject\" is missing"},
        {"no type", [](json& e) { e.erase("type"); }, "SQ001", "required attribute \"type\" is missing"},
        {"old spec", [](json& e) { e["specversion"] = "0.3"; }, "SQ001",
         "\"specversion\" has an invalid value"},
        {"numeric id", [](json& e) { e["id"] = 7; }, "SQ001", "\"id\" must be a string, got number"},
        {"id with space", [](json& e) { e["id"] = "a b"; }, "SQ001", "\"id\" has an invalid value"},
        {"empty source", [](json& e) { e["source"] = ""; }, "SQ001", "\"source\" has an invalid value"},
        {"bad time", [](json& e) { e["time"] = "yesterday"; }, "SQ001", "\"time\" has an invalid value"},
        {"no kind", [](json& e) { e["type"] = "sea.order-placed.v1"; }, "SQ002",
         "type \"sea.order-placed.v1\""},
        {"upper case", [](json& e) { e["type"] = "Sea.event.order.v1"; }, "SQ002", "is not {context}.event"},
        {"version 0", [](json& e) { e["type"] = "sea.event.order.v0"; }, "SQ002", "is not {context}.event"},
        {"dlq context", [](json& e) { e["type"] = "dlq.event.order.v1"; }, "SQ002", "is not {context}.event"},
        {"wildcard", [](json& e) { e["type"] = "sea.event.*.v1"; }, "SQ002", "is not {context}.event"},
        {"both payloads", [](json& e) { e["data_base64"] = "AAAA"; }, "SQ003",
         "both \"data\" and \"data_base64\""},
        {"no payload", [](json& e) { e.erase("data"); }, "SQ003", "neither \"data\" nor \"data_base64\""},
        {"bad base64",
         [](json& e) {
             e.erase("data");
             e["data_base64"] = "not base64!";
             e["datacontenttype"] = "application/octet-stream";
         },
         "SQ001", "\"data_base64\" has an invalid value"},
        {"bad name", [](json& e) { e["Bad-Name"] = "x"; }, "SQ001",
         "attribute name \"Bad-Name\" is not allowed"},
        {"object extension",
         [](json& e) {
             e["tenant"] = json{{"a", 1}};
         },
         "SQ001", "extension attribute \"tenant\""},
        {"not an object",
         [](json& e) {
             e = json::array({1, 2});
         },
         "SQ001", "expected a JSON object, got array"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        json envelope = valid_envelope("bad-" + std::to_string(i));
        c.change(envelope);
        try {
            enqueue(envelope);
            ADD_FAILURE() << c.name << ": accepted " << envelope.dump();
        } catch (const postgres::SqlError& error) {
            EXPECT_EQ(error.sqlstate(), c.sqlstate) << c.name << ": " << error.what();
            EXPECT_TRUE(error.is_invalid_envelope()) << c.name;
            EXPECT_NE(error.primary_message().find(c.message), std::string::npos)
                << c.name << ": " << error.what();
            EXPECT_NE(error.primary_message().find("invalid envelope"), std::string::npos) << error.what();
            EXPECT_FALSE(error.hint().empty() && error.detail().empty()) << c.name << ": no detail nor hint";
        }
    }
    EXPECT_EQ(count_rows(), 0);

    // A binary payload is fine with its content type.
    json binary = valid_envelope("binary");
    binary.erase("data");
    binary["data_base64"] = "aGVsbG8=";
    binary["datacontenttype"] = "application/octet-stream";
    binary["tenant"] = "t-1";
    binary["priority"] = 3;
    EXPECT_EQ(enqueue(binary), "binary");

    // An id already in the outbox: unique_violation from the primary key, the id named.
    try {
        enqueue(valid_envelope("binary"));
        ADD_FAILURE() << "a duplicate id was accepted";
    } catch (const postgres::SqlError& error) {
        EXPECT_TRUE(error.is_unique_violation()) << error.what();
        EXPECT_NE(error.primary_message().find("outbox_events_pkey"), std::string::npos) << error.what();
        EXPECT_EQ(error.detail(), "Key (id)=(binary) already exists.") << error.what();
    }
    EXPECT_EQ(count_rows(), 1);
}

// What the C++ validator refuses by format, enum, extension rule, number range or size,
// seamq.enqueue refuses too, each with its SQLSTATE and a hint: a stored envelope is one
// every consumer accepts.
TEST_F(Outbox, EnqueueRefusesWhatTheCxxValidatorRefuses) {
    // The envelope as JSON text; "@raw@" (a JSON string) is replaced by `raw`, for numbers
    // nlohmann::json cannot hold.
    struct Case {
        std::string name;
        std::function<void(json&)> change;
        std::string raw;
        std::string sqlstate;
        std::string message;
    };
    // DBL_MAX, (2 - 2^-52) * 2^1023, written out.
    const std::string dbl_max_digits =
        "1797693134862315708145274237317043567980705675258449965989174768031572607800285387605895586327668781"
        "715"
        "4045895351438246423432132688946418276846754670353751698604991057655128207624549009038932894407586850"
        "845"
        "5133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858"
        "368";
    const std::vector<Case> cases = {
        {"month 13", [](json& e) { e["time"] = "2026-13-45T99:00:00Z"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"February 30", [](json& e) { e["time"] = "2026-02-30T10:00:00Z"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"February 29 of 2100", [](json& e) { e["time"] = "2100-02-29T10:00:00Z"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"offset +25:00", [](json& e) { e["time"] = "2026-12-07T10:00:00+25:00"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"second 60 off 23:59", [](json& e) { e["time"] = "2026-12-07T10:00:60Z"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"ten fraction digits", [](json& e) { e["time"] = "2026-12-07T10:00:00.1234567890Z"; }, "", "SQ001",
         "attribute \"time\" has an invalid value"},
        {"dataschema not a URI", [](json& e) { e["dataschema"] = "not a uri"; }, "", "SQ001",
         "attribute \"dataschema\" has an invalid value"},
        {"relative dataschema", [](json& e) { e["dataschema"] = "/schemas/order.json"; }, "", "SQ001",
         "attribute \"dataschema\" has an invalid value"},
        {"source with a space", [](json& e) { e["source"] = "http://exa mple.com"; }, "", "SQ001",
         "attribute \"source\" has an invalid value"},
        {"source with a bad escape", [](json& e) { e["source"] = "/sea/%zz"; }, "", "SQ001",
         "attribute \"source\" has an invalid value"},
        {"traceparent", [](json& e) { e["traceparent"] = "00-zzzz-01"; }, "", "SQ001",
         "attribute \"traceparent\" has an invalid value"},
        {"traceparent zero trace id",
         [](json& e) { e["traceparent"] = "00-" + std::string(32, '0') + "-00f067aa0ba902b7-01"; }, "",
         "SQ001", "attribute \"traceparent\" has an invalid value"},
        {"tracestate too long", [](json& e) { e["tracestate"] = std::string(513, 'a'); }, "", "SQ001",
         "attribute \"tracestate\" has an invalid value"},
        {"visibility public", [](json& e) { e["visibility"] = "public"; }, "", "SQ001",
         "attribute \"visibility\" has an invalid value"},
        {"numeric correlationid", [](json& e) { e["correlationid"] = 123; }, "", "SQ001",
         "attribute \"correlationid\" must be a string, got number"},
        {"causationid with a space", [](json& e) { e["causationid"] = "a b"; }, "", "SQ001",
         "attribute \"causationid\" has an invalid value"},
        {"extension 1.0", [](json& e) { e["priority"] = "@raw@"; }, "1.0", "SQ001",
         "extension attribute \"priority\" must be a string, a boolean or a 32-bit integer"},
        {"data 1e999",
         [](json& e) {
             e["data"] = {{"n", "@raw@"}};
         },
         "1e999", "SQ001", "is beyond the range of a double"},
        {"data -1e999 in an array",
         [](json& e) {
             e["data"] = {{"a", {1, {{"n", "@raw@"}}}}};
         },
         "-1e999", "SQ001", "is beyond the range of a double"},
        {"1.8e308", [](json& e) { e["data"] = "@raw@"; }, "1.8e308", "SQ001",
         "is beyond the range of a double"},
        {"over the size limit",
         [](json& e) {
             e["data"] = {{"blob", std::string(envelope::Limits{}.max_bytes, 'x')}};
         },
         "", "SQ004", "more than the limit of 1048576 bytes"},
    };
    const envelope::Validator validator;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        json document = valid_envelope("refused-" + std::to_string(i));
        c.change(document);
        std::string text = document.dump();
        if (!c.raw.empty()) text.replace(text.find("\"@raw@\""), 7, c.raw);
        // The same verdict from the C++ validator. Until it reports numbers beyond a double
        // as a problem (rule number-range), its JSON parser throws on them: also "refused".
        bool cxx_refused = true;
        try {
            cxx_refused = !validator.validate(text).empty();
        } catch (const std::exception&) {
        }
        EXPECT_TRUE(cxx_refused) << c.name << ": the C++ validator accepts " << text.substr(0, 200);
        try {
            connection_.exec("SELECT seamq.enqueue($1::jsonb)", text);
            ADD_FAILURE() << c.name << ": accepted " << text.substr(0, 200);
        } catch (const postgres::SqlError& error) {
            EXPECT_EQ(error.sqlstate(), c.sqlstate) << c.name << ": " << error.what();
            EXPECT_TRUE(error.is_invalid_envelope()) << c.name;
            EXPECT_NE(error.primary_message().find("invalid envelope"), std::string::npos) << error.what();
            EXPECT_NE(error.primary_message().find(c.message), std::string::npos)
                << c.name << ": " << error.what();
            EXPECT_NE(error.detail().find("event id refused-" + std::to_string(i)), std::string::npos)
                << c.name << ": " << error.detail();
            EXPECT_FALSE(error.hint().empty()) << c.name << ": no hint";
        }
    }
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(postgres::sqlstate::envelope_too_large, "SQ004");
    EXPECT_EQ(connection_.exec("SELECT seamq.max_envelope_bytes()").get<std::int64_t>(0, 0),
              static_cast<std::int64_t>(envelope::Limits{}.max_bytes));

    // Their valid neighbours are stored, and the stored text passes the C++ validator.
    const std::vector<std::pair<std::function<void(json&)>, std::string>> accepted = {
        {[](json& e) { e["time"] = "2016-12-31T23:59:60Z"; }, ""},  // a leap second
        {[](json& e) { e["time"] = "2016-12-31T18:59:60.5-05:00"; }, ""},
        {[](json& e) { e["time"] = "2024-02-29t10:00:00.123456789z"; }, ""},
        {[](json& e) { e["time"] = "2026-12-07T10:00:00+23:59"; }, ""},
        {[](json& e) { e["dataschema"] = "urn:sea:order-placed:1"; }, ""},
        {[](json& e) { e["source"] = "https://[::1]:8443/sea/orders?x=%20#f"; }, ""},
        {[](json& e) { e["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; }, ""},
        {[](json& e) { e["visibility"] = "external"; }, ""},
        {[](json& e) { e["correlationid"] = "c-1"; }, ""},
        {[](json& e) { e["priority"] = "@raw@"; }, "1e2"},  // stored as 100
        {[](json& e) {
             e["data"] = {{"n", "@raw@"}};
         },
         "1e-999"},  // underflows to 0: fine
        {[](json& e) { e["data"] = "@raw@"; }, dbl_max_digits},
        {[](json& e) { e["data"] = "@raw@"; }, "-0"},
        {[](json& e) {
             e.erase("data");
             e["data_base64"] = "";
             e["datacontenttype"] = "application/octet-stream";
         },
         ""},
    };
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        json document = valid_envelope("accepted-" + std::to_string(i));
        accepted[i].first(document);
        std::string text = document.dump();
        if (!accepted[i].second.empty()) text.replace(text.find("\"@raw@\""), 7, accepted[i].second);
        EXPECT_NO_THROW(connection_.exec("SELECT seamq.enqueue($1::jsonb)", text)) << text.substr(0, 200);
    }
    const auto stored =
        connection_.exec("SELECT id, envelope::text FROM seamq.outbox_events ORDER BY position");
    ASSERT_EQ(stored.rows(), static_cast<int>(accepted.size()));
    for (int row = 0; row < stored.rows(); ++row) {
        const auto problems = validator.validate(stored.get<std::string>(row, 1));
        EXPECT_TRUE(problems.empty()) << stored.get<std::string>(row, 0) << ": "
                                      << (problems.empty() ? "" : envelope::to_string(problems.front()));
    }
}

// The size limit applies to the text the relay publishes (jsonb's, with ", " and ": "):
// exactly at the limit is stored and accepted by the C++ validator, one byte more is not.
TEST_F(Outbox, EnqueueMeasuresTheSizeLimitOnTheStoredText) {
    const std::size_t limit = envelope::Limits{}.max_bytes;
    json document = valid_envelope("at-limit-1");
    document["data"] = {{"blob", ""}};
    const auto base = static_cast<std::size_t>(
        connection_.exec("SELECT octet_length($1::jsonb::text)", document.dump()).get<std::int64_t>(0, 0));
    document["data"]["blob"] = std::string(limit - base, 'x');
    EXPECT_EQ(enqueue(document), "at-limit-1");
    const auto text =
        connection_.exec("SELECT envelope::text FROM seamq.outbox_events").get<std::string>(0, 0);
    EXPECT_EQ(text.size(), limit);
    EXPECT_TRUE(envelope::Validator().validate(text).empty());

    document["id"] = "at-limit-2";  // as long as the first id
    document["data"]["blob"] = std::string(limit - base + 1, 'x');
    // Its compact form is within the limit: the C++ validator accepts that form, but the
    // relay would publish the longer stored text, which it refuses.
    EXPECT_LE(document.dump().size(), limit);
    try {
        enqueue(document);
        ADD_FAILURE() << "an envelope over the limit as stored was accepted";
    } catch (const postgres::SqlError& error) {
        EXPECT_EQ(error.sqlstate(), postgres::sqlstate::envelope_too_large) << error.what();
        EXPECT_NE(error.primary_message().find("it is 1048577 bytes as stored"), std::string::npos)
            << error.what();
    }
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(Outbox, TypeGrammarIsTheSchemasAndAgreesWithTheCxxValidator) {
    // One pattern, character for character, in the schema and in SQL.
    const json schema = json::parse(read_file(source_dir() / "schemas/events/envelope-v1.schema.json"));
    EXPECT_EQ(connection_.exec("SELECT seamq.type_pattern()").get<std::string>(0, 0),
              schema.at("properties").at("type").at("pattern").get<std::string>());

    std::vector<std::string> types = {"sea.event.order-placed.v1",
                                      "sea.command.place-order.v2",
                                      "vibespro.event.spec_published.v999999",
                                      "a.event.b.v1",
                                      "sea.event.order-placed.v1000000",
                                      "sea.event.order-placed.v01",
                                      "sea.event.order--x.v1",
                                      "sea.event.-x.v1",
                                      "sea.event.x-.v1",
                                      "sea.event.1x.v1",
                                      "1sea.event.x.v1",
                                      "sea.events.x.v1",
                                      "sea.event.x.V1",
                                      "sea.event.x",
                                      "sea.event.x.v1.extra",
                                      "sea..x.v1",
                                      "",
                                      "dlq.event.x.v1",
                                      "dlqx.event.x.v1",
                                      "sea.event.x.v1 ",
                                      " sea.event.x.v1",
                                      "sea.event.x_y-z.v3",
                                      "sea.event.x__y.v1",
                                      std::string(32, 'c') + ".event.x.v1",
                                      std::string(33, 'c') + ".event.x.v1",
                                      "sea.event." + std::string(64, 'n') + ".v1",
                                      "sea.event." + std::string(65, 'n') + ".v1",
                                      std::string(32, 'c') + ".command." + std::string(64, 'n') + ".v123456",
                                      "sea.event.caf\xc3\xa9.v1",
                                      "sea.event.x.v1\n"};
    // Plus random types near the grammar, where engines tend to disagree: four tokens,
    // each drawn from valid and almost-valid spellings.
    std::mt19937 random(20240501);
    const std::vector<std::string> words = {
        "sea", "a",  "x-y", "x_y", "a1", "order-placed", "dlq",         "x--y",
        "-x",  "x_", "9x",  "Sea", "",   "x.y",          "caf\xc3\xa9", std::string(33, 'w')};
    const std::vector<std::string> kinds = {"event", "command", "events", "Event", ""};
    const std::vector<std::string> versions = {"v1",       "v42", "v999999", "v0", "v01",
                                               "v1000000", "V1",  "v",       "1"};
    for (int i = 0; i < 3000; ++i) {
        const auto pick = [&](const std::vector<std::string>& from) { return from[random() % from.size()]; };
        types.push_back(pick(words) + "." + pick(kinds) + "." + pick(words) + "." + pick(versions));
    }
    const auto verdicts = connection_.exec(
        "SELECT t ~ seamq.type_pattern(), seamq.is_valid_type(t) FROM unnest($1::text[]) WITH ORDINALITY AS "
        "u(t, n) "
        "ORDER BY n",
        postgres::array_literal(types));
    ASSERT_EQ(verdicts.rows(), static_cast<int>(types.size()));
    int valid = 0;
    for (std::size_t i = 0; i < types.size(); ++i) {
        const bool sql_valid = verdicts.get<bool>(static_cast<int>(i), 0);
        const bool cxx_valid = !envelope::subject_problem(types[i]).has_value();
        EXPECT_EQ(sql_valid, cxx_valid) << "type '" << types[i] << "'";
        // The insert trigger's lookahead-free form of the same grammar.
        EXPECT_EQ(verdicts.get<bool>(static_cast<int>(i), 1), sql_valid)
            << "is_valid_type('" << types[i] << "')";
        valid += sql_valid ? 1 : 0;
    }
    EXPECT_GT(valid, 40);  // the corpus holds both kinds
}

TEST_F(Outbox, NotifiesTheRelayAtCommitOnlyAndRollbackLeavesNothing) {
    postgres::Connection listener(server_.connection_string());
    listener.listen(schema::notify_channel);

    {
        postgres::Transaction transaction(connection_);
        connection_.exec("CREATE TABLE orders (id text PRIMARY KEY)");
        connection_.exec("INSERT INTO orders VALUES ('order-1')");
        enqueue(valid_envelope("rolled-back"));
        EXPECT_EQ(listener.wait_for_notification(100ms), std::nullopt);  // nothing before commit
        transaction.rollback();
    }
    EXPECT_EQ(listener.wait_for_notification(300ms), std::nullopt);
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(connection_.exec("SELECT to_regclass('orders') IS NULL").get<bool>(0, 0), true);

    {
        postgres::Transaction transaction(connection_);
        enqueue(valid_envelope("c1", "order-1"));
        enqueue(valid_envelope("c2", "order-2"));
        json other = valid_envelope("c3");
        other["type"] = "governance.event.decision-recorded.v1";
        enqueue(other);
        transaction.commit();
    }
    std::vector<std::string> payloads;
    while (auto notification = listener.wait_for_notification(500ms)) {
        EXPECT_EQ(notification->channel, schema::notify_channel);
        payloads.push_back(notification->payload);
        ASSERT_LT(payloads.size(), 10u);
    }
    std::sort(payloads.begin(), payloads.end());
    // Repeats in one transaction fold into one notification per context.
    EXPECT_EQ(payloads, (std::vector<std::string>{"governance", "sea"}));
    EXPECT_EQ(count_rows(), 3);
}

TEST_F(Outbox, NodePgClientEnqueuesThroughTheSqlContract) {
    const std::filesystem::path node_dir = std::getenv("SEAMQ_NODE_DIR");
    testing::TempDir logs("node");
    testing::ChildProcess node(
        testing::ChildProcess::Options{{"node", (node_dir / "outbox_enqueue.mjs").string(), server_.url()},
                                       logs.path() / "node.log",
                                       {},
                                       {},
                                       {}});
    const auto status = node.wait_for_exit(60s);
    const std::string log = read_file(logs.path() / "node.log");
    ASSERT_TRUE(status.has_value()) << log;
    ASSERT_EQ(testing::ChildProcess::exit_code(*status), 0) << log;

    const auto report = json::parse(log.substr(log.rfind("RESULT ") + 7));
    EXPECT_EQ(report.at("invalid_code"), "SQ002");
    const auto ids = report.at("committed_ids").get<std::vector<std::string>>();
    ASSERT_EQ(ids.size(), 2u);

    const auto rows = connection_.exec(
        "SELECT id, context, subject, type, envelope->'data'->>'from' FROM "
        "seamq.outbox_events ORDER BY position");
    ASSERT_EQ(rows.rows(), 2);  // the rolled-back and the invalid events left nothing
    for (int row = 0; row < 2; ++row) {
        EXPECT_EQ(rows.get<std::string>(row, 0), ids[static_cast<std::size_t>(row)]);
        EXPECT_EQ(rows.get<std::string>(row, 1), "vibespro");
        EXPECT_EQ(rows.get<std::string>(row, 2), "spec-7");
        EXPECT_EQ(rows.get<std::string>(row, 3), "vibespro.event.spec-published.v1");
        EXPECT_EQ(rows.get<std::string>(row, 4), "node-pg");
    }
    EXPECT_EQ(connection_.exec("SELECT count(*) FROM specs").get<int>(0, 0), 1);  // state committed with them
}

}  // namespace
}  // namespace seamq::outbox
