#pragma once

// How a client proves who it is to nats-server and how it talks TLS to it: the settings
// every connection of the worker and the CLI shares, and the NKey and .creds formats
// they read (checked here, before nats.c sees them, so a bad file fails at start with
// its name and the reason instead of as an opaque connect error).
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace seamq::nats {

//! At most one way of authenticating. User info in a server URL (nats://user:pass@host)
//! also works, as in nats.c, but puts the secret where URLs get printed.
struct Authentication {
    std::string user;      //!< with password
    std::string password;  //!< secret
    std::string token;     //!< secret
    //! A user NKey seed file (one line "SU..."): nats-server `nkey:` users.
    std::filesystem::path nkey_seed_file;
    //! A .creds file (user JWT + NKey seed): decentralized JWT auth (operator mode).
    //! nats.c reads it again at every reconnect, so a replaced file is used without restart.
    std::filesystem::path credentials_file;

    //! "none", "user/password", "token", "nkey", "credentials file".
    std::string mode() const;
    //! What is inconsistent: more than one mode, a password without user. "" when fine.
    std::string problem() const;
};

//! TLS to the servers. On when `enabled`, when a URL has the tls:// scheme, or when any
//! file below is given.
struct TlsOptions {
    bool enabled = false;
    std::filesystem::path ca_file;           //!< PEM CA bundle the server certificate must chain to
    std::filesystem::path certificate_file;  //!< PEM client certificate (chain), for mutual TLS
    std::filesystem::path key_file;          //!< PEM private key of certificate_file
    //! Host name the server certificate must carry. nats.c checks a host name only when told
    //! one: empty means the host of the server URLs when they all name one host, else only the
    //! certificate chain is verified.
    std::string server_name;
    std::string min_version = "1.2";  //!< "1.2" or "1.3"

    bool active(const std::vector<std::string>& urls) const;
    std::string problem() const;  //!< "" when consistent
};

//! The role letter of an NKey ('U' user, 'A' account, 'O' operator, 'N' server).
enum class NKeyRole : char { user = 'U', account = 'A', operator_ = 'O', server = 'N', cluster = 'C' };

//! An Ed25519 key pair in NATS's NKey encoding: a seed "S<role>..." (base32 of the prefix,
//! the 32-byte seed and a CRC-16), a public key "<role>..." of the same shape.
class NKeySeed {
public:
    //! Decodes and checks a seed; throws seamq::Error(config) saying what is wrong
    //! (not base32, wrong length, bad checksum, not a seed) without echoing the seed.
    static NKeySeed parse(std::string_view text);
    //! A fresh random key pair (for tests and tooling that mint JWTs).
    static NKeySeed generate(NKeyRole role);

    NKeyRole role() const noexcept { return role_; }
    std::string seed() const;        //!< the encoded seed (a secret)
    std::string public_key() const;  //!< "U..." / "A..." / "O..."
    //! Ed25519 signature (64 bytes) of `data`.
    std::string sign(std::string_view data) const;

private:
    NKeySeed(NKeyRole role, const std::array<std::uint8_t, 32>& raw) : role_(role), raw_(raw) {}
    NKeyRole role_;
    std::array<std::uint8_t, 32> raw_;
};

//! A .creds file: a user JWT and the user's NKey seed, each between "-----BEGIN ...-----"
//! and "------END ...------" lines.
struct Credentials {
    std::string jwt;
    NKeySeed seed;
};
//! Parses .creds text; throws seamq::Error(config) naming `source` and the problem.
Credentials parse_credentials(std::string_view text, std::string_view source);

//! Reads and checks files; throw seamq::Error(config) with the path and the reason
//! (missing, unreadable, malformed).
NKeySeed read_nkey_seed_file(const std::filesystem::path& file);
Credentials read_credentials_file(const std::filesystem::path& file);
//! Fails unless `file` exists and is readable (TLS files: nats.c parses them itself).
void check_readable_file(const std::filesystem::path& file, std::string_view what);

//! Base64url without padding, as JWTs use it.
std::string base64url_encode(std::string_view bytes);

}  // namespace seamq::nats
