#pragma once

// Standard Webhooks v1 (standardwebhooks.com): the signature both edges use. A delivery
// carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
// space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
// secret the sender holds, so an endpoint can rotate its secret without a gap.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace seamq::edges {

//! A signing key: the bytes behind a `whsec_<base64>` secret (24 to 64 bytes, as the
//! specification recommends). Never printed: to_string() is for storing it, not logging.
class WebhookSecret {
public:
    //! Parses `whsec_<base64>`; throws Error(invalid_argument) saying what is wrong
    //! without echoing the secret.
    static WebhookSecret parse(std::string_view text);
    //! 32 random bytes from OpenSSL's RAND_bytes.
    static WebhookSecret generate();

    std::string to_string() const;
    const std::string& key() const noexcept { return key_; }

private:
    explicit WebhookSecret(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

//! The three headers of a delivery, as received (empty when absent).
struct WebhookHeaders {
    std::string id;
    std::string timestamp;
    std::string signature;
};

//! `v1,<base64>` for one secret.
std::string sign(const WebhookSecret& secret, std::string_view id, std::int64_t timestamp,
                 std::string_view body);
//! The `webhook-signature` value: one `v1,` entry per secret, space-separated.
std::string signature_header(const std::vector<WebhookSecret>& secrets, std::string_view id,
                             std::int64_t timestamp, std::string_view body);

//! One entry of a `webhook-signature` header.
struct SignatureEntry {
    std::string_view version;    //!< "v1"; other versions are skipped by verify
    std::string_view signature;  //!< base64, not yet decoded
};
//! At most this many entries are read from one header; the rest are ignored, so a
//! header of a million entries costs no more than one of 16.
inline constexpr std::size_t max_signature_entries = 16;
//! Splits a `webhook-signature` value on spaces; an entry without a comma is skipped.
std::vector<SignatureEntry> parse_signature_header(std::string_view header);

//! Why a delivery was, or was not, accepted. Anything but `valid` is a 401 at intake.
enum class Verdict {
    valid,
    missing_header,         //!< webhook-id, -timestamp or -signature absent or empty
    malformed_timestamp,    //!< not a decimal number of seconds
    timestamp_too_old,      //!< older than now - tolerance (a replay or a late retry)
    timestamp_too_new,      //!< newer than now + tolerance (a wrong clock)
    no_matching_signature,  //!< no v1 entry matches any secret (tampered body or wrong secret)
};
std::string_view to_string(Verdict verdict) noexcept;

inline constexpr std::chrono::seconds default_tolerance{300};

//! Verifies a delivery against every secret (rotation: old and new are both accepted
//! while both are configured). Signatures are compared as base64 text, like the
//! reference library, in constant time (CRYPTO_memcmp), and every entry is compared
//! against every secret whatever matched first.
Verdict verify(const std::vector<WebhookSecret>& secrets, const WebhookHeaders& headers,
               std::string_view body, std::chrono::system_clock::time_point now,
               std::chrono::seconds tolerance = default_tolerance);

//! Standard base64 (RFC 4648 §4), padded.
std::string base64_encode(std::string_view bytes);
//! Standard base64, padding optional; false for any other character or a bad length.
bool base64_decode(std::string_view text, std::string& bytes);

}  // namespace seamq::edges
