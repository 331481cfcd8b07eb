#include "seamq/edges/secret_box.hpp"

#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "seamq/core/error.hpp"
#include "seamq/edges/webhook_signature.hpp"

namespace seamq::edges {
namespace {

constexpr std::size_t key_bytes = 32;
constexpr std::size_t nonce_bytes = 12;
constexpr std::size_t tag_bytes = 16;

struct CipherDeleter {
    void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

const unsigned char* bytes(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

bool is_sealed(std::string_view stored) noexcept {
    return stored.starts_with(sealed_prefix);
}

SecretBox SecretBox::parse(std::string_view key) {
    std::string decoded;
    if (!base64_decode(key, decoded))
        raise(Errc::config,
              "the webhook secrets key is not base64 (make one with `openssl rand -base64 32`)");
    if (decoded.size() != key_bytes)
        raise(Errc::config,
              "the webhook secrets key decodes to {} bytes; it must be 32 (`openssl rand -base64 32`)",
              decoded.size());
    return SecretBox(std::move(decoded));
}

std::string SecretBox::seal(std::string_view name, std::string_view secret) const {
    std::string sealed(nonce_bytes + secret.size() + tag_bytes, '\0');
    auto* out = reinterpret_cast<unsigned char*>(sealed.data());
    if (RAND_bytes(out, static_cast<int>(nonce_bytes)) != 1) raise(Errc::internal, "RAND_bytes failed");
    Cipher context(EVP_CIPHER_CTX_new());
    int length = 0;
    if (!context || EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), out) != 1 ||
        EVP_EncryptUpdate(context.get(), nullptr, &length, bytes(name), static_cast<int>(name.size())) != 1 ||
        EVP_EncryptUpdate(context.get(), out + nonce_bytes, &length, bytes(secret),
                          static_cast<int>(secret.size())) != 1 ||
        EVP_EncryptFinal_ex(context.get(), out + nonce_bytes + length, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes),
                            out + nonce_bytes + secret.size()) != 1)
        raise(Errc::internal, "sealing a webhook secret failed (OpenSSL AES-256-GCM)");
    return std::string(sealed_prefix) + base64_encode(sealed);
}

std::string SecretBox::open(std::string_view name, std::string_view stored) const {
    if (!is_sealed(stored)) return std::string(stored);
    std::string sealed;
    if (!base64_decode(stored.substr(sealed_prefix.size()), sealed) ||
        sealed.size() < nonce_bytes + tag_bytes)
        raise(Errc::invalid_argument, "the stored secret of endpoint {} is not a sealed secret", name);
    const auto text_bytes = sealed.size() - nonce_bytes - tag_bytes;
    const auto* in = bytes(sealed);
    std::string secret(text_bytes, '\0');
    auto* out = reinterpret_cast<unsigned char*>(secret.data());
    std::string tag(sealed.substr(nonce_bytes + text_bytes));
    Cipher context(EVP_CIPHER_CTX_new());
    int length = 0;
    const bool opened =
        context && EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), in) == 1 &&
        EVP_DecryptUpdate(context.get(), nullptr, &length, bytes(name), static_cast<int>(name.size())) == 1 &&
        EVP_DecryptUpdate(context.get(), out, &length, in + nonce_bytes, static_cast<int>(text_bytes)) == 1 &&
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes), tag.data()) ==
            1 &&
        EVP_DecryptFinal_ex(context.get(), out + length, &length) == 1;
    if (!opened)
        raise(Errc::invalid_argument,
              "the stored secret of endpoint {} does not open with this key (another key, another endpoint's "
              "row, or altered)",
              name);
    return secret;
}

std::string open_stored_secret(const std::optional<SecretBox>& box, std::string_view name,
                               std::string_view stored) {
    if (box) return box->open(name, stored);
    if (is_sealed(stored))
        raise(Errc::config,
              "the secret of endpoint {} is sealed: give the key (worker: outbound.secrets_key, CLI: "
              "--secrets-key or SEAMQ_WEBHOOK_SECRETS_KEY)",
              name);
    return std::string(stored);
}

}  // namespace seamq::edges
