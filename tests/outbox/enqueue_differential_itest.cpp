// One verdict for SQL and C++: thousands of seeded, odd envelopes go through
// seamq.enqueue (real PostgreSQL) and through the C++ envelope::Validator. Whatever the
// SQL stores, the C++ validator accepts in the form the relay publishes (the stored
// envelope::text), so nothing enters the outbox that a consumer will call poison. Where
// the two verdicts on the input differ, the reason must be a known one (listed below).
// Plus the envelope corpus (tests/envelope/corpus), where both give the same verdict.
//
// Reproduce a failure with the printed seed: SEAMQ_DIFFERENTIAL_SEED=<seed>.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/envelope/envelope.hpp"
#include "seamq/postgres/error.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/postgres/transaction.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::outbox {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path source_dir() {
    return std::getenv("SEAMQ_SOURCE_DIR");
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// DBL_MAX, (2 - 2^-52) * 2^1023, written out.
const std::string dbl_max_digits =
    "1797693134862315708145274237317043567980705675258449965989174768031572607800285387605895586327668781715"
    "4045895351438246423432132688946418276846754670353751698604991057655128207624549009038932894407586850845"
    "5133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368";

// The C++ verdict on a JSON text: its problems, or a thrown exception. Until the
// validator reports numbers beyond a double as a problem (rule number-range), its JSON
// parser throws on them; a throw counts as "refused".
struct CxxVerdict {
    bool accepted = false;
    bool threw = false;
    std::vector<envelope::Problem> problems;
};

CxxVerdict cxx_verdict(const envelope::Validator& validator, const std::string& text) {
    CxxVerdict verdict;
    try {
        verdict.problems = validator.validate(text);
        verdict.accepted = verdict.problems.empty();
    } catch (const std::exception& e) {
        verdict.threw = true;
        verdict.problems.push_back({"", "exception", "", e.what()});
    }
    return verdict;
}

struct SqlVerdict {
    bool stored = false;
    std::string id;  // when stored
    std::string sqlstate;
    std::string message;
};

// One generated envelope: its JSON text and what the generator knows about it.
struct Sample {
    std::string text;
    std::set<std::string> tags;
    // Pad data.blob (the placeholder "@blob@") so that the *stored* text has this size.
    std::optional<std::size_t> stored_size;
    std::string blob_unit = "x";            // the blob's unit as written in the input
    std::size_t blob_unit_stored_size = 1;  // ...and as stored
};

// Odd but plausible envelopes: a valid one with zero to three mutations, each drawn from
// the edge cases of one rule (times, numbers, URIs, ids, extensions, payloads, sizes...).
class Generator {
public:
    explicit Generator(std::uint64_t seed) : random_(seed) {}

    Sample next(std::size_t index) {
        Sample sample;
        raws_.clear();
        index_ = index;
        json document = {{"specversion", "1.0"},
                         {"id", "d-" + std::to_string(index)},
                         {"source", "/sea/orders"},
                         {"type", "sea.event.order-placed.v1"},
                         {"subject", "order-" + std::to_string(index % 97)},
                         {"time", "2024-05-01T12:00:00.123456Z"},
                         {"datacontenttype", "application/json"},
                         {"data", {{"order_id", "o-1"}, {"total", 42}}}};
        const int roll = uniform(0, 99);
        const int mutations = roll < 8 ? 0 : roll < 68 ? 1 : roll < 93 ? 2 : 3;
        for (int m = 0; m < mutations; ++m) mutate(document, sample);
        std::string text = document.dump();
        for (std::size_t r = 0; r < raws_.size(); ++r) {
            const std::string placeholder = "\"@raw" + std::to_string(r) + "@\"";
            const auto at = text.find(placeholder);
            if (at != std::string::npos) text.replace(at, placeholder.size(), raws_[r]);
        }
        if (!duplicate_.empty()) {  // a second member with a key already present: the last wins
            text.insert(text.size() - 1, duplicate_);
            duplicate_.clear();
        }
        if (!whole_.empty()) {
            text = whole_;
            whole_.clear();
        }
        sample.text = std::move(text);
        return sample;
    }

private:
    int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
    bool chance(int percent) { return uniform(0, 99) < percent; }
    template <typename T>
    const T& pick(const std::vector<T>& from) {
        return from[static_cast<std::size_t>(uniform(0, static_cast<int>(from.size()) - 1))];
    }
    std::string digits(int count, int low = 0, int high = 9) {
        std::string out;
        for (int i = 0; i < count; ++i) out += static_cast<char>('0' + uniform(low, high));
        return out;
    }
    std::string two_digits(int low, int high) {
        const int value = uniform(low, high);
        return (value < 10 ? "0" : "") + std::to_string(value);
    }
    // A JSON value written as `literal` (a number nlohmann::json cannot hold, a string
    // with escapes): stands in the document as a placeholder string.
    std::string raw(std::string literal) {
        raws_.push_back(std::move(literal));
        return "@raw" + std::to_string(raws_.size() - 1) + "@";
    }

    void mutate(json& d, Sample& sample) {
        switch (uniform(0, 16)) {
            case 0:
            case 1: d["time"] = time(); break;
            case 2:
            case 3: number(d, sample); break;
            case 4: d["source"] = uri(true); break;
            case 5: d["dataschema"] = uri(false); break;
            case 6: id(d); break;
            case 7: extension(d); break;
            case 8: known_extension(d); break;
            case 9: payload(d); break;
            case 10: content_type(d); break;
            case 11: unicode(d, sample); break;
            case 12: size(d, sample); break;
            case 13: missing_or_odd(d); break;
            case 14: type_or_subject(d); break;
            case 15: specversion(d); break;
            default: d["time"] = time(); break;
        }
    }

    std::string time() {
        static const std::vector<std::string> edges = {"2026-13-45T99:00:00Z",
                                                       "2026-02-30T10:00:00Z",
                                                       "2026-12-07T10:00:00+25:00",
                                                       "2026-12-07T10:00:60Z",
                                                       "2016-12-31T23:59:60Z",
                                                       "2016-12-31T23:58:60Z",
                                                       "2016-12-31T18:59:60-05:00",
                                                       "2016-12-31T46:59:60+23:00",
                                                       "2016-12-31T00:00:60+00:01",
                                                       "2016-12-31T23:59:60.999Z",
                                                       "2016-12-31T23:59:61Z",
                                                       "2024-02-29T00:00:00Z",
                                                       "2023-02-29T00:00:00Z",
                                                       "1900-02-29T00:00:00Z",
                                                       "2000-02-29T00:00:00Z",
                                                       "0000-02-29T00:00:00Z",
                                                       "2024-05-01t12:00:00z",
                                                       "2024-05-01 12:00:00Z",
                                                       "2024-05-01T12:00:00",
                                                       "2024-05-01T12:00:00+0100",
                                                       "2024-05-01T12:00:00+01",
                                                       "2024-05-01T24:00:00Z",
                                                       "2024-05-01T12:00:00.Z",
                                                       "2024-05-01T12:00:00.1234567890Z",
                                                       "2024-05-01T12:00:00.123456789-23:59",
                                                       "2024-05-01",
                                                       "",
                                                       "2024-05-01T12:00:00Z ",
                                                       " 2024-05-01T12:00:00Z",
                                                       "2024-05-01T12:00:00Z\n",
                                                       "２０２４-05-01T12:00:00Z",
                                                       "2024-05-01T12:00:00\xe2\x80\x8bZ"};
        if (chance(30)) return pick(edges);
        const bool odd = chance(25);
        const std::string year =
            pick(std::vector<std::string>{"0000", "1900", "2000", "2016", "2024", "2100", "9999", digits(4)});
        const std::string month = odd ? two_digits(0, 13) : two_digits(1, 12);
        const std::string day = odd ? two_digits(0, 32) : two_digits(1, 31);
        std::string clock;
        if (chance(15)) {
            clock = pick(std::vector<std::string>{"23:59:60", "22:59:60", "00:59:60", "23:00:60", "46:59:60",
                                                  "00:00:60", "12:30:60"});
        } else {
            clock = (odd ? two_digits(0, 25) : two_digits(0, 23)) + ":" +
                    (odd ? two_digits(0, 60) : two_digits(0, 59)) + ":" +
                    (odd ? two_digits(0, 61) : two_digits(0, 59));
        }
        std::string fraction;
        if (chance(50)) fraction = "." + digits(odd ? uniform(0, 10) : uniform(1, 9));
        std::string zone;
        switch (uniform(0, 5)) {
            case 0: zone = "Z"; break;
            case 1: zone = "z"; break;
            case 2:
            case 3:
            case 4:
                zone =
                    std::string(chance(50) ? "+" : "-") + (odd ? two_digits(0, 25) : two_digits(0, 23)) +
                    ":" +
                    (odd ? two_digits(0, 60) : pick(std::vector<std::string>{"00", "30", "45", "59", "01"}));
                break;
            default: zone = odd ? "" : "Z"; break;
        }
        const std::string separator =
            odd ? pick(std::vector<std::string>{"T", "t", " ", "_"}) : (chance(80) ? "T" : "t");
        return year + "-" + month + "-" + day + separator + clock + fraction + zone;
    }

    // A number literal; tags the ones a strtod-based reader rounds to DBL_MAX although
    // they are above it (SQL refuses them: they exceed the largest finite double).
    std::string number_literal(Sample& sample) {
        static const std::vector<std::string> edges = {"1e999",
                                                       "-1e999",
                                                       "1e308",
                                                       "-1e308",
                                                       "1.7976931348623157e308",
                                                       "1.7976931348623159e308",
                                                       "-1.7976931348623159e308",
                                                       "1.8e308",
                                                       "2e308",
                                                       "1e309",
                                                       "1E+400",
                                                       "1e-999",
                                                       "-1e-999",
                                                       "5e-324",
                                                       "2e-324",
                                                       "1e-400",
                                                       "-0",
                                                       "-0.0",
                                                       "0e0",
                                                       "0E-5",
                                                       "1E+2",
                                                       "1e-7",
                                                       "123456789012345678901234567890",
                                                       "18446744073709551616",
                                                       "-9223372036854775809",
                                                       "0.1",
                                                       "1.5",
                                                       "3.14159265358979323846264338327950288",
                                                       "1e308",
                                                       "9.999999999999999e307",
                                                       "0.0000000000000000000000000000001"};
        const int kind = uniform(0, 9);
        if (kind < 4) return pick(edges);
        if (kind == 4) return dbl_max_digits;
        if (kind == 5) {
            // Above DBL_MAX by less than half a unit in the last place.
            sample.tags.insert("dbl-max-window");
            if (chance(50)) return dbl_max_digits.substr(0, dbl_max_digits.size() - 1) + "9";  // DBL_MAX + 1
            return "1.7976931348623158e308";
        }
        std::string literal = chance(30) ? "-" : "";
        literal += std::to_string(uniform(1, 9)) + digits(uniform(0, 17));
        if (chance(50)) literal += "." + digits(uniform(1, 6));
        if (chance(80)) {
            literal += pick(std::vector<std::string>{"e", "E"}) +
                       pick(std::vector<std::string>{"", "+", "-"}) + std::to_string(uniform(0, 420));
        }
        const long double value = std::strtold(literal.c_str(), nullptr);
        const long double dbl_max = std::numeric_limits<double>::max();
        const long double rounding_edge = std::ldexp(1.0L, 1024) - std::ldexp(1.0L, 970);
        if (std::fabs(value) > dbl_max && std::fabs(value) < rounding_edge)
            sample.tags.insert("dbl-max-window");
        return literal;
    }

    void number(json& d, Sample& sample) {
        const std::string literal = raw(number_literal(sample));
        switch (uniform(0, 4)) {
            case 0: d["data"] = literal; break;
            case 1: d["data"] = {{"n", literal}}; break;
            case 2: d["data"] = json::array({1, "x", json::array({literal})}); break;
            case 3: d["data"] = {{"a", {{"b", json::array({true, nullptr, {{"c", literal}}})}}}}; break;
            default: d["amount"] = literal; break;  // an extension attribute
        }
    }

    std::string uri(bool reference) {
        static const std::vector<std::string> simple = {"/sea/orders",
                                                        "/",
                                                        "",
                                                        "https://sea.example/orders",
                                                        "urn:sea:orders",
                                                        "not a uri",
                                                        "http://exa mple.com",
                                                        "/sea/%zz",
                                                        "/sea/%2",
                                                        "/sea/%20x",
                                                        "//host",
                                                        "../x",
                                                        "./a-b",
                                                        "a:",
                                                        "1a:b",
                                                        "mailto:a@b",
                                                        "http://[::1]:80/x",
                                                        "http://[::1",
                                                        "http://[v1.x-y]/",
                                                        "HTTP://EXAMPLE.COM/%4A",
                                                        "http://\xc5\xbf.com",
                                                        "http://\xe2\x84\xaa.com",
                                                        "http://caf\xc3\xa9.com",
                                                        "a\"b",
                                                        "//a@b@c",
                                                        "http://1.2.3.999/",
                                                        "\\\\server\\share",
                                                        "http://x/\x7f",
                                                        "tag:sea.example,2024:orders",
                                                        "https://sea.example/a?b=c#d",
                                                        "?only",
                                                        "#only"};
        if (chance(35)) return pick(simple);
        std::string out;
        const bool absolute = !reference || chance(60);
        if (absolute) {
            out += pick(std::vector<std::string>{"http:", "https:", "urn:", "a+b-c.d:", "H:", "x:"});
            if (chance(8)) out = pick(std::vector<std::string>{"1x:", "ht tp:", "\xc5\xbf:", "-x:", ":"});
        }
        if (chance(60)) {
            out += "//";
            if (chance(20))
                out += pick(std::vector<std::string>{"user@", "u:p@", "a%20b@", "@", "\xc3\xa9@", "a b@"});
            out += pick(std::vector<std::string>{"example.com",
                                                 "exa mple.com",
                                                 "1.2.3.4",
                                                 "256.1.1.1",
                                                 "[::1]",
                                                 "[2001:db8::1]",
                                                 "[::ffff:1.2.3.4]",
                                                 "[v1.x]",
                                                 "[::1",
                                                 "[zz::1]",
                                                 "",
                                                 "ex_ample.com",
                                                 "\xe2\x84\xaa.com",
                                                 "\xc5\xbf.com",
                                                 "xn--80ak6aa92e.com",
                                                 "ex%41mple",
                                                 "ex%4",
                                                 "host\"q",
                                                 "[1:2:3:4:5:6:7:8]",
                                                 "[1:2:3:4:5:6:7:8:9]"});
            if (chance(25)) out += pick(std::vector<std::string>{":", ":80", ":8080", ":x", ":-1"});
        }
        static const std::vector<std::string> characters = {"a",
                                                            "Z",
                                                            "0",
                                                            "-",
                                                            ".",
                                                            "_",
                                                            "~",
                                                            "!",
                                                            "$",
                                                            "&",
                                                            "'",
                                                            "(",
                                                            ")",
                                                            "*",
                                                            "+",
                                                            ",",
                                                            ";",
                                                            "=",
                                                            ":",
                                                            "@",
                                                            "%20",
                                                            "%E9",
                                                            "%e9",
                                                            "%zz",
                                                            "%2",
                                                            "%",
                                                            " ",
                                                            "\"",
                                                            "<",
                                                            ">",
                                                            "\\",
                                                            "^",
                                                            "`",
                                                            "{",
                                                            "|",
                                                            "}",
                                                            "\xc3\xa9",
                                                            "\xc5\xbf",
                                                            "\xe2\x84\xaa",
                                                            "\xf0\x9f\x98\x80",
                                                            "\t",
                                                            "\n",
                                                            "[",
                                                            "]",
                                                            "K",
                                                            "k",
                                                            "s"};
        const int segments = uniform(0, 4);
        for (int s = 0; s < segments; ++s) {
            if (s > 0 || chance(70)) out += "/";
            const int length = uniform(0, 6);
            for (int c = 0; c < length; ++c)
                out +=
                    chance(75) ? std::string(1, static_cast<char>('a' + uniform(0, 25))) : pick(characters);
        }
        if (chance(15)) out += pick(std::vector<std::string>{"?", "?a=b", "?a b", "?%41", "?/?", "?%zz"});
        if (chance(10)) out += pick(std::vector<std::string>{"#", "#x", "#a#b", "#%zz", "#/?"});
        if (chance(5)) {  // around maxLength 1024
            const std::size_t target = static_cast<std::size_t>(uniform(1020, 1028));
            if (out.empty()) out = "/";
            while (out.size() < target) out += "a";
            out.resize(target);
        }
        return out;
    }

    void id(json& d) {
        const std::string mine = "d-" + std::to_string(index_);
        switch (uniform(0, 7)) {
            case 0: d["id"] = mine + std::string(200 - mine.size(), 'x'); break;
            case 1: d["id"] = mine + std::string(201 - mine.size(), 'x'); break;
            case 2: d["id"] = ""; break;
            case 3:
                d["id"] =
                    mine + pick(std::vector<std::string>{" ", "\xc3\xa9", "\x7f", "\t", "~!", "\"", "\\"});
                break;
            case 4: d["id"] = index_; break;
            case 5: d["id"] = nullptr; break;
            case 6: d.erase("id"); break;
            default: duplicate_ = ",\"id\":\"dup-" + std::to_string(index_) + "\""; break;
        }
    }

    void extension(json& d) {
        std::string name;
        if (chance(70)) {
            const int length = uniform(1, 20);
            for (int i = 0; i < length; ++i) {
                name += chance(80) ? static_cast<char>('a' + uniform(0, 25))
                                   : static_cast<char>('0' + uniform(0, 9));
            }
        } else {
            name = pick(std::vector<std::string>{"abcdefghij0123456789x", "Ab", "a-b", "a_b", "\xc3\xa9", "",
                                                 "data_base64x", "123", "a b", "dataschemas", "\xe2\x84\xaa",
                                                 "z\n"});
        }
        json value;
        switch (uniform(0, 5)) {
            case 0:
                value = chance(80) ? "v-1" : pick(std::vector<std::string>{"", " ", "\xc3\xa9", "\n"});
                break;
            case 1: value = chance(50); break;
            case 2: {
                const std::string literal = pick(std::vector<std::string>{
                    "0", "-0", "2147483647", "2147483648", "-2147483648", "-2147483649", "1e2", "1E1", "1.0",
                    "1.5", "-0.0", "42", "1e999", "2.5e1", "1e-2"});
                value = raw(literal);
                break;
            }
            case 3: value = nullptr; break;
            case 4: value = json::array({1}); break;
            default: value = {{"a", 1}}; break;
        }
        d[name] = value;
    }

    void known_extension(json& d) {
        switch (uniform(0, 4)) {
            case 0:
            case 1: {
                const std::string name = chance(50) ? "correlationid" : "causationid";
                d[name] = pick(std::vector<json>{"c-1", "", "a b", std::string(200, 'c'),
                                                 std::string(201, 'c'), 123, true, "\xc3\xa9", "~", nullptr});
                break;
            }
            case 2:
                d["traceparent"] = pick(
                    std::vector<json>{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                                      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                                      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                                      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-zzzz-01",
                                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011",
                                      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
                                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", "", 1});
                break;
            case 3:
                d["tracestate"] =
                    pick(std::vector<json>{"", " ", "a=b", std::string(512, 't'), std::string(513, 't'),
                                           "\xc3\xa9", "\t", "a=b,c=d", false});
                break;
            default:
                d["visibility"] = pick(std::vector<json>{"internal", "external", "public", "Internal", "", 1,
                                                         nullptr, " internal"});
                break;
        }
    }

    void payload(json& d) {
        const int kind = uniform(0, 3);
        if (kind == 0) {
            d["data"] = pick(std::vector<json>{nullptr,
                                               json::object(),
                                               json::array(),
                                               "str",
                                               0,
                                               true,
                                               {{"deep", {{"er", json::array({1, 2, {{"x", nullptr}}})}}}}});
        } else if (kind == 1 || kind == 2) {
            d.erase("data");
            d["data_base64"] = pick(std::vector<json>{"", "AAAA", "AA==", "AAA=", "A===", "A",
                                                      "====", "aGVsbG8=", "aGVs bG8=", "\xc3\xa9===", 5,
                                                      "AAAAAA==", "AA=A", "aGVsbG8"});
            if (chance(80)) {
                d["datacontenttype"] = "application/octet-stream";
            } else if (chance(50)) {
                d.erase("datacontenttype");
            }
            if (kind == 2 && chance(30)) d["data"] = "both";
        } else {
            d.erase("data");  // neither
        }
    }

    void content_type(json& d) {
        if (chance(30)) {
            d.erase("datacontenttype");
            return;
        }
        d["datacontenttype"] = pick(std::vector<json>{
            "application/json", "text/plain; charset=utf-8", "", "application", "a/b;\xc3\xa9",
            "application/cloudevents+json", std::string(64, 'a') + "/b", std::string(65, 'a') + "/b",
            "a/b;" + std::string(200, 'p'), "a/b;" + std::string(201, 'p'), "a /b", "a/b\n", nullptr, 5});
    }

    void unicode(json& d, Sample& sample) {
        std::string literal = pick(std::vector<std::string>{
            "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"", "\"a\\u0000b\"",
            "\"\\u001f\"", "\"\\/\"", "\"\xc3\xa9\"", "\"\\uFFFF\"", "\"\\uFEFF\"", "\"\\u2028\"",
            "\"\xed\xa0\x80\"", "\"\xff\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\x41\"", "\"\\U00e9\""});
        if (literal.find("\\u0000") != std::string::npos) sample.tags.insert("nul");
        switch (uniform(0, 3)) {
            case 0: d["data"] = {{"s", raw(literal)}}; break;
            case 1: d["subject"] = raw(literal); break;
            case 2: d["tenant"] = raw(literal); break;
            default: d["data"] = raw(literal); break;
        }
    }

    void size(json& d, Sample& sample) {
        const std::size_t limit = envelope::Limits{}.max_bytes;
        const int delta = pick(std::vector<int>{-2, -1, 0, 0, 1, 1, 2, -1000, 5000});
        sample.stored_size = static_cast<std::size_t>(static_cast<long>(limit) + delta);
        const int unit = uniform(0, 2);
        if (unit == 1) {  // two bytes in both forms
            sample.blob_unit = "\xc3\xa9";
            sample.blob_unit_stored_size = 2;
        } else if (unit == 2) {  // six bytes in the input, one as stored
            sample.blob_unit = "\\u0041";
            sample.blob_unit_stored_size = 1;
        }
        d["data"] = {{"blob", "@blob@"}};
    }

    void missing_or_odd(json& d) {
        static const std::vector<std::string> required = {
            "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"};
        const int kind = uniform(0, 9);
        if (kind < 6) {
            d.erase(pick(required));
        } else if (kind < 8) {
            d[pick(std::vector<std::string>{"partitionkey", "sequence", "replayed", "x", "data2"})] = "extra";
        } else if (kind == 8) {
            duplicate_ = ",\"subject\":\"dup-subject\"";
        } else {
            whole_ = pick(
                std::vector<std::string>{"[]", "\"x\"", "1", "null", "{}", "", "{\"id\":", "[{}]", "true"});
        }
    }

    void type_or_subject(json& d) {
        if (chance(50)) {
            d["type"] = pick(std::vector<json>{
                "sea.event.order-placed.v1", "sea.command.place-order.v999999", "sea.event.order-placed.v0",
                "Sea.event.x.v1", "dlq.event.x.v1", "sea.event.x.v1 ", "sea.event.*.v1", "", 7,
                std::string(33, 'c') + ".event.x.v1", "caf\xc3\xa9.event.x.v1"});
        } else {
            std::string many_e;
            for (int i = 0; i < 1024; ++i) many_e += "\xc3\xa9";
            d["subject"] = pick(std::vector<json>{"", "a", std::string(1024, 's'), std::string(1025, 's'),
                                                  many_e, many_e + "x", "a b", "\n", 5, nullptr});
        }
    }

    void specversion(json& d) {
        if (chance(20)) {
            d.erase("specversion");
            return;
        }
        d["specversion"] = pick(std::vector<json>{"1.0", "1.0 ", "0.3", "1", raw("1.0"), nullptr, "1.00"});
    }

    std::mt19937_64 random_;
    std::vector<std::string> raws_;
    std::string duplicate_;
    std::string whole_;
    std::size_t index_ = 0;
};

class EnqueueDifferential : public ::testing::Test {
protected:
    void SetUp() override {
        postgres::migrate(connection_, source_dir() / "db" / "migrations");
        // Thousands of one-statement transactions: no need to wait for each WAL flush.
        connection_.exec("SET synchronous_commit TO off");
    }

    SqlVerdict enqueue(const std::string& text) {
        SqlVerdict verdict;
        try {
            verdict.id = connection_.exec("SELECT seamq.enqueue($1::jsonb)", text).get<std::string>(0, 0);
            verdict.stored = true;
        } catch (const postgres::SqlError& error) {
            verdict.sqlstate = error.sqlstate();
            verdict.message = error.primary_message();
            if (error.is_connection_lost()) throw;
        }
        return verdict;
    }

    testing::PostgresServer server_;
    postgres::Connection connection_{server_.connection_string()};
};

std::string shorten(const std::string& text, std::size_t length = 300) {
    return text.size() <= length ? text
                                 : text.substr(0, length) + "...(" + std::to_string(text.size()) + " bytes)";
}

std::string first_problem(const CxxVerdict& verdict) {
    return verdict.problems.empty() ? "" : envelope::to_string(verdict.problems.front());
}

// The C++ verdict on the input refuses, the SQL stores: allowed when every problem is
// one the store normalizes away (and the stored text is then checked like any other).
bool explained_by_normalization(const CxxVerdict& input, const std::string& text) {
    if (input.threw) return false;
    for (const auto& problem : input.problems) {
        const bool completed =
            problem.rule == "required" && (problem.path == "/time" || problem.path == "/datacontenttype");
        const bool resized = problem.rule == "size";  // measured on the stored text, not the input
        bool integer_spelled_as_float = false;        // 2.5e1 or 0e0: numeric stores 25 and 0
        if (problem.rule == "type") {
            const auto document = json::parse(text, nullptr, false);
            const json::json_pointer pointer(problem.path);
            if (document.is_object() && document.contains(pointer) &&
                document.at(pointer).is_number_float()) {
                const double value = document.at(pointer).get<double>();
                integer_spelled_as_float =
                    value == std::trunc(value) && value >= -2147483648.0 && value <= 2147483647.0;
            }
        }
        if (!completed && !resized && !integer_spelled_as_float) return false;
    }
    return true;
}

// "rule /path" for counting: extension attributes as one path.
std::string problem_kind(const envelope::Problem& problem) {
    static const std::set<std::string> named = {"/specversion",   "/id",
                                                "/source",        "/type",
                                                "/time",          "/datacontenttype",
                                                "/dataschema",    "/subject",
                                                "/data",          "/data_base64",
                                                "/correlationid", "/causationid",
                                                "/traceparent",   "/tracestate",
                                                "/visibility",    ""};
    const auto second_slash = problem.path.find('/', 1);
    const auto top = problem.path.substr(0, second_slash);
    return problem.rule + " " + (top.empty() ? "(root)" : named.count(top) ? top : "/<extension>");
}

// The C++ verdict on the input accepts, the SQL refuses: allowed for what PostgreSQL
// cannot store and for what the C++ reading of the stored text would differ on.
std::string refusal_reason(const SqlVerdict& sql, const Sample& sample, std::size_t input_size) {
    if (sample.tags.count("nul") && sql.sqlstate == "22P05")
        return "\\u0000 (PostgreSQL text cannot hold it)";
    if (sql.sqlstate == postgres::sqlstate::envelope_too_large &&
        input_size <= envelope::Limits{}.max_bytes) {
        return "size as stored (jsonb text writes \", \" and \": \")";
    }
    if (sample.tags.count("dbl-max-window") &&
        sql.message.find("beyond the range of a double") != std::string::npos) {
        return "a number above DBL_MAX that a double parser rounds down to DBL_MAX";
    }
    return "";
}

TEST_F(EnqueueDifferential, WhatSqlStoresTheCxxValidatorAccepts) {
    std::uint64_t seed = std::random_device{}();
    if (const char* fixed = std::getenv("SEAMQ_DIFFERENTIAL_SEED"); fixed && *fixed)
        seed = std::stoull(fixed);
    std::printf("enqueue differential: seed %llu (rerun with SEAMQ_DIFFERENTIAL_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    RecordProperty("seed", std::to_string(seed));
    SCOPED_TRACE("seed " + std::to_string(seed));

    constexpr std::size_t count = 4000;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);
    const envelope::Validator validator;
    Generator generator(seed);

    struct Outcome {
        Sample sample;
        CxxVerdict input;
        SqlVerdict sql;
    };
    std::vector<Outcome> outcomes;
    outcomes.reserve(count);
    std::map<std::string, std::size_t> by_id;  // stored id -> outcome
    std::map<std::string, int> sql_refusals, cxx_refusals, disagreements;
    int cxx_accepted = 0, cxx_threw = 0, sql_stored = 0;
    for (std::size_t i = 0; i < count && std::chrono::steady_clock::now() < deadline; ++i) {
        Outcome outcome{generator.next(i), {}, {}};
        auto& sample = outcome.sample;
        if (const auto at = sample.text.find("@blob@"); sample.stored_size && at != std::string::npos) {
            // Pad the blob so that the stored text has exactly the wanted size (measured
            // by PostgreSQL; a text it cannot read keeps an empty blob).
            auto unpadded = sample.text;
            unpadded.replace(at, 6, "");
            std::size_t units = 0;
            try {
                const auto base = static_cast<std::size_t>(
                    connection_.exec("SELECT octet_length($1::jsonb::text)", unpadded)
                        .get<std::int64_t>(0, 0));
                if (*sample.stored_size > base)
                    units = (*sample.stored_size - base) / sample.blob_unit_stored_size;
            } catch (const postgres::SqlError&) {
            }
            std::string blob;
            blob.reserve(units * sample.blob_unit.size());
            for (std::size_t u = 0; u < units; ++u) blob += sample.blob_unit;
            sample.text.replace(at, 6, blob);
        }
        outcome.input = cxx_verdict(validator, sample.text);
        outcome.sql = enqueue(sample.text);
        cxx_accepted += outcome.input.accepted ? 1 : 0;
        cxx_threw += outcome.input.threw ? 1 : 0;
        if (!outcome.input.accepted) {
            ++cxx_refusals[problem_kind(outcome.input.problems.front())];
        }
        if (outcome.sql.stored) {
            ++sql_stored;
            EXPECT_TRUE(by_id.emplace(outcome.sql.id, outcomes.size()).second)
                << "id stored twice: " << outcome.sql.id;
        } else {
            ++sql_refusals[outcome.sql.sqlstate];
            EXPECT_NE(outcome.sql.sqlstate, postgres::sqlstate::unique_violation)
                << "the generator repeated an id: " << shorten(sample.text);
        }
        if (outcome.sql.stored && !outcome.input.accepted) {
            ++disagreements["SQL stores, C++ refuses the input: " +
                            problem_kind(outcome.input.problems.front())];
            EXPECT_TRUE(explained_by_normalization(outcome.input, sample.text))
                << "SQL stored what the C++ validator refuses: " << first_problem(outcome.input) << "\n  "
                << shorten(sample.text);
        }
        if (!outcome.sql.stored && outcome.input.accepted) {
            const auto reason = refusal_reason(outcome.sql, sample, sample.text.size());
            ++disagreements["C++ accepts the input, SQL refuses: " +
                            (reason.empty() ? outcome.sql.sqlstate : reason)];
            EXPECT_FALSE(reason.empty())
                << "SQL refused (" << outcome.sql.sqlstate << " " << outcome.sql.message
                << ") what the C++ validator accepts:\n  " << shorten(sample.text);
        }
        outcomes.push_back(std::move(outcome));
    }
    ASSERT_GE(outcomes.size(), 1000u) << "too slow: only " << outcomes.size() << " envelopes in 50 s";

    // The property: every stored envelope, as the relay publishes it, is valid.
    const auto stored = connection_.exec("SELECT id, envelope::text FROM seamq.outbox_events");
    ASSERT_EQ(stored.rows(), sql_stored);
    int stored_valid = 0;
    for (int row = 0; row < stored.rows(); ++row) {
        const auto id = stored.get<std::string>(row, 0);
        const auto text = stored.get<std::string>(row, 1);
        const auto verdict = cxx_verdict(validator, text);
        stored_valid += verdict.accepted ? 1 : 0;
        const auto found = by_id.find(id);
        ASSERT_NE(found, by_id.end()) << id;
        EXPECT_TRUE(verdict.accepted)
            << "stored, but the C++ validator refuses the stored text: " << first_problem(verdict)
            << "\n  input:  " << shorten(outcomes[found->second].sample.text)
            << "\n  stored: " << shorten(text);
    }

    // The trigger's fast path (seamq.is_plain_valid_envelope) skips the checks one by one
    // for the common shape. Its soundness, tested directly: every stored envelope it vouches
    // for is stored again with the fast path switched off (the function replaced by false,
    // in a transaction rolled back), so each check alone lets it through too.
    std::vector<std::string> vouched;
    for (int row = 0; row < stored.rows(); ++row) {
        vouched.push_back(stored.get<std::string>(row, 1));
    }
    const auto fast = connection_.exec(
        "SELECT count(*) FILTER (WHERE seamq.is_plain_valid_envelope(envelope)) FROM seamq.outbox_events");
    const auto fast_count = static_cast<int>(fast.get<std::int64_t>(0, 0));
    std::erase_if(vouched, [&](const std::string& text) {
        return !connection_.exec("SELECT seamq.is_plain_valid_envelope($1::jsonb)", text).get<bool>(0, 0);
    });
    ASSERT_EQ(static_cast<int>(vouched.size()), fast_count);
    int slow_stored = 0;
    {
        postgres::Transaction checks_only(connection_);
        connection_.exec(
            "CREATE OR REPLACE FUNCTION seamq.is_plain_valid_envelope(envelope jsonb) "
            "RETURNS boolean LANGUAGE sql IMMUTABLE RETURN false");
        connection_.exec("DELETE FROM seamq.outbox_events");
        for (const auto& text : vouched) {
            connection_.exec("SAVEPOINT one");
            try {
                connection_.exec("SELECT seamq.enqueue($1::jsonb)", text);
                ++slow_stored;
            } catch (const postgres::SqlError& error) {
                ADD_FAILURE() << "the fast path vouched for an envelope the checks refuse ("
                              << error.sqlstate() << " " << error.primary_message() << "):\n  "
                              << shorten(text);
                connection_.exec("ROLLBACK TO SAVEPOINT one");
            }
            connection_.exec("RELEASE SAVEPOINT one");
        }
        // Destroyed without commit: rolled back, the real function is back.
    }
    EXPECT_EQ(slow_stored, fast_count);
    // The generator reaches both sides of the fast path in volume.
    EXPECT_GT(fast_count, sql_stored / 10);
    EXPECT_GT(sql_stored - fast_count, sql_stored / 10);

    std::printf("enqueue differential: %zu envelopes, seed %llu\n", outcomes.size(),
                static_cast<unsigned long long>(seed));
    std::printf("  C++ validator on the input: %d accepted, %zu refused (%d by a thrown exception)\n",
                cxx_accepted, outcomes.size() - static_cast<std::size_t>(cxx_accepted), cxx_threw);
    std::printf("  seamq.enqueue: %d stored, %zu refused:", sql_stored,
                outcomes.size() - static_cast<std::size_t>(sql_stored));
    for (const auto& [state, n] : sql_refusals) std::printf(" %s x%d", state.c_str(), n);
    std::printf("\n  stored texts the C++ validator accepts: %d of %d\n", stored_valid, sql_stored);
    std::printf("  stored through the fast path: %d (each stored again by the checks alone)\n", fast_count);
    std::printf("  C++ refusals by first problem:\n");
    for (const auto& [rule, n] : cxx_refusals) std::printf("    %5d  %s\n", n, rule.c_str());
    std::printf("  verdicts that differ, by reason:\n");
    for (const auto& [reason, n] : disagreements) std::printf("    %5d  %s\n", n, reason.c_str());
    std::fflush(stdout);
    // The generator reaches both verdicts in volume.
    EXPECT_GT(sql_stored, static_cast<int>(outcomes.size() / 5));
    EXPECT_GT(static_cast<int>(outcomes.size()) - sql_stored, static_cast<int>(outcomes.size() / 5));
}

// The envelope corpus: the same verdict from seamq.enqueue and the C++ validator. The
// contract-* cases need payload contracts, which only the C++ side checks: skipped.
// Documented difference: SQL fills in a missing time, and datacontenttype next to data,
// so it stores those two invalid cases, complete and valid.
TEST_F(EnqueueDifferential, CorpusGetsTheSameVerdict) {
    const envelope::Validator validator;
    int compared = 0, skipped = 0, completed = 0;
    for (const auto* folder : {"valid", "invalid"}) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(source_dir() / "tests/envelope/corpus" / folder)) {
            files.push_back(entry.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            const auto name = file.filename().string();
            SCOPED_TRACE(std::string(folder) + "/" + name);
            if (name.rfind("contract-", 0) == 0) {
                ++skipped;
                continue;
            }
            const auto text = read_file(file);
            const auto cxx = cxx_verdict(validator, text);
            EXPECT_EQ(cxx.accepted, std::string(folder) == "valid") << first_problem(cxx);
            // Every case in a transaction rolled back: the corpus shares one event id.
            postgres::Transaction transaction(connection_);
            SqlVerdict sql = enqueue(text);
            if (sql.stored) {
                const auto stored =
                    connection_.exec("SELECT envelope::text FROM seamq.outbox_events WHERE id = $1", sql.id)
                        .get<std::string>(0, 0);
                EXPECT_TRUE(validator.validate(stored).empty()) << shorten(stored);
            }
            transaction.rollback();
            ++compared;
            if (name == "missing-time.json" || name == "missing-datacontenttype.json") {
                EXPECT_TRUE(sql.stored) << "SQL completes this envelope: " << sql.message;
                ++completed;
                continue;
            }
            EXPECT_EQ(sql.stored, cxx.accepted)
                << "SQL: " << (sql.stored ? "stored" : sql.sqlstate + " " + sql.message)
                << "; C++: " << (cxx.accepted ? "accepted" : first_problem(cxx));
            if (!sql.stored) {
                // Refused with sea-mq's class SQ, except text that is not JSON at all.
                EXPECT_EQ(sql.sqlstate.substr(0, 2), name == "not-json.json" ? "22" : "SQ") << sql.message;
            }
        }
    }
    std::printf("corpus: %d cases compared (%d stored complete by SQL), %d contract-* cases skipped\n",
                compared, completed, skipped);
    EXPECT_GE(compared, 70);
    EXPECT_EQ(completed, 2);
}

}  // namespace
}  // namespace seamq::outbox
