#pragma once

// Webhook secrets at rest: seamq.webhook_endpoints.secret sealed with AES-256-GCM under a
// key from the worker's and the CLI's configuration, so whoever reads the table (a
// backup, a read replica, a reporting role) cannot sign as sea-mq to a partner.
#include <optional>
#include <string>
#include <string_view>

namespace seamq::edges {

//! Prefix of a sealed secret: `enc:v1:` + base64(12-byte nonce | ciphertext | 16-byte tag).
inline constexpr std::string_view sealed_prefix = "enc:v1:";

//! AES-256-GCM with the endpoint's name as associated data: a sealed secret copied to
//! another endpoint's row does not open. Thread-safe (const).
class SecretBox {
public:
    //! `key`: base64 of 32 bytes (e.g. `openssl rand -base64 32`). Throws
    //! Error(config) saying what is wrong, never quoting the key.
    static SecretBox parse(std::string_view key);

    //! `enc:v1:...` of `secret` for endpoint `name` (a fresh random nonce each time).
    std::string seal(std::string_view name, std::string_view secret) const;
    //! The secret of a stored value: a sealed one is opened, a plain `whsec_` one is
    //! returned as it is (rows written before a key was configured). Throws
    //! Error(invalid_argument) when a sealed value does not open (another key, another
    //! endpoint's row, altered), never quoting it.
    std::string open(std::string_view name, std::string_view stored) const;

private:
    explicit SecretBox(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

//! The secret of a stored value with an optional box: a sealed value without a box is
//! Error(config) ("set outbound.secrets_key / --secrets-key").
std::string open_stored_secret(const std::optional<SecretBox>& box, std::string_view name,
                               std::string_view stored);

bool is_sealed(std::string_view stored) noexcept;

}  // namespace seamq::edges
