// Credential masking (core/redaction.hpp) on arbitrary text. The first byte picks the case.
// Free text: never a crash, and masking twice changes nothing. Planted secrets: a URL with
// user:password, a token URL, a libpq password=, quoted or not, or a postgresql:// query
// parameter, between arbitrary text on either side; the masked text holds fewer copies of
// the password than the input (the planted one is gone; masking never makes new ones).
// Pieces are separated by 0xff bytes: before, user, password, host, path, after.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "seamq/core/redaction.hpp"

namespace {

// Splits the input at 0xff bytes into the pieces a case needs (missing ones are empty).
std::string_view take(std::string_view& rest) {
    const auto end = rest.find('\xff');
    const auto piece = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    return piece;
}

// `piece` with every byte in `forbidden`, white space and control bytes replaced by 'x'.
std::string without(std::string_view piece, std::string_view forbidden) {
    std::string out(piece);
    for (auto& c : out) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte == 0x7f || forbidden.find(c) != std::string_view::npos) c = 'x';
    }
    return out;
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++count;
    return count;
}

constexpr std::string_view schemes[] = {"nats", "tls", "postgresql", "postgres", "http", "https"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto selector = data[0];
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (selector % 5 == 0) {
        const auto masked = seamq::mask_credentials(rest);
        if (seamq::mask_credentials(masked) != masked) std::abort();
        return 0;
    }
    const auto before = take(rest);
    const auto user = without(take(rest), ":@/?#\"`<>*");
    // '*' is the mask's own byte: a password of stars would be found in every masked text.
    auto password = without(take(rest), "/?#\"`<>*&'\\");
    const auto host = without(take(rest), "@/?#\"`<>*");
    const auto path = take(rest);
    const auto after = rest;
    if (password.empty()) password = "p";
    const auto scheme = schemes[(selector / 5) % std::size(schemes)];

    std::string planted;
    switch (selector % 5) {
        case 1:
            planted =
                std::string(scheme) + "://" + user + ":" + password + "@" + host + "/" + std::string(path);
            break;
        case 2:
            // A token has no colon (with one it is user:password, and the user part stays).
            std::replace(password.begin(), password.end(), ':', 'x');
            planted = std::string(scheme) + "://" + password + "@" + host + "," + std::string(path);
            break;
        case 3:
            planted = (selector & 0x80) != 0
                          ? "host=" + host + " password='" + password + " with spaces' dbname=d"
                          : "host=" + host + " password=" + password + " dbname=d";
            break;
        default:
            planted = "postgresql://" + host + "/db?sslmode=require&password=" + password +
                      "&x=" + std::string(path);
            break;
    }
    // A quote opened before the planted text and never closed would swallow it as the
    // value of an earlier password= (libpq reads it so too): no quotes before.
    std::string text(before);
    std::replace(text.begin(), text.end(), '\'', 'x');
    text += '\n';
    text += planted;
    text += '\n';
    text += after;
    const auto masked = seamq::mask_credentials(text);
    if (occurrences(masked, password) >= occurrences(text, password)) std::abort();
    return 0;
}
