#pragma once

// What every verb shares about writing JSON: payloads are arbitrary bytes, JSON strings
// must be UTF-8, and a command must not die half-way through its output on either.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace seamq::cli {

//! True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points
//! beyond U+10FFFF).
bool is_utf8(std::string_view text);
//! RFC 4648 base64 with padding.
std::string encode_base64(std::string_view bytes);

//! Puts a message payload into `object` without loss: `payload` when it is JSON,
//! `payload_text` when it is other UTF-8 text, `payload_base64` otherwise.
void put_payload(nlohmann::json& object, std::string_view payload);

//! `value.dump(indent)` that never throws: a string that is not UTF-8 (a header value, a
//! subject) is written with U+FFFD for each invalid byte. Payloads go through put_payload.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace seamq::cli
