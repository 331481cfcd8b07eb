// Loading the admin server's certificate and key with OpenSSL, with reasons an operator
// can act on (OpenSSL itself only queues error codes).
#include "src/worker/admin_tls.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace seamq::worker {

namespace {

struct QueuedErrors {
    std::vector<std::string> reasons;
    bool key_mismatch = false;
};

// Empties this thread's OpenSSL error queue into readable reasons.
QueuedErrors take_errors() {
    QueuedErrors errors;
    while (const unsigned long code = ERR_get_error()) {
        if (ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
            errors.key_mismatch = true;
        }
        const char* reason = ERR_reason_error_string(code);
        std::string text = reason != nullptr ? reason : fmt::format("error {:#x}", code);
        if (std::find(errors.reasons.begin(), errors.reasons.end(), text) == errors.reasons.end()) {
            errors.reasons.push_back(std::move(text));
        }
    }
    return errors;
}

std::string because(const QueuedErrors& errors) {
    return errors.reasons.empty() ? "" : fmt::format(" (OpenSSL: {})", fmt::join(errors.reasons, "; "));
}

// Without it OpenSSL would prompt on the terminal for an encrypted key's password.
int no_password(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
    return 0;
}

}  // namespace

std::optional<AdminTlsProblem> configure_admin_tls(ssl_ctx_st& context, const AdminTlsSettings& tls) {
    ERR_clear_error();
    SSL_CTX_set_options(&context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION) != 1) {
        return AdminTlsProblem{"admin.tls",
                               "OpenSSL refuses TLS 1.2 as the minimum version" + because(take_errors())};
    }
    SSL_CTX_set_default_passwd_cb(&context, no_password);

    const auto certificate = tls.certificate_file.string();
    if (SSL_CTX_use_certificate_chain_file(&context, certificate.c_str()) != 1) {
        return AdminTlsProblem{
            "admin.tls.certificate_file",
            fmt::format("{} holds no usable PEM certificate{}", certificate, because(take_errors()))};
    }
    const auto key = tls.key_file.string();
    if (SSL_CTX_use_PrivateKey_file(&context, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        const auto errors = take_errors();
        if (errors.key_mismatch) {
            return AdminTlsProblem{
                "admin.tls.key_file",
                fmt::format("{} is not the private key of the certificate in {}", key, certificate)};
        }
        return AdminTlsProblem{
            "admin.tls.key_file",
            fmt::format("{} holds no usable unencrypted PEM private key{}", key, because(errors))};
    }
    if (SSL_CTX_check_private_key(&context) != 1) {
        return AdminTlsProblem{"admin.tls.key_file",
                               fmt::format("{} is not the private key of the certificate in {}{}", key,
                                           certificate, because(take_errors()))};
    }
    return std::nullopt;
}

std::optional<AdminTlsProblem> check_admin_tls(const AdminTlsSettings& tls) {
    const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_server_method()),
                                                                    &SSL_CTX_free);
    if (!context) {
        return AdminTlsProblem{"admin.tls", "OpenSSL cannot create a TLS context" + because(take_errors())};
    }
    return configure_admin_tls(*context, tls);
}

}  // namespace seamq::worker
