#pragma once

// TLS for the admin server: the certificate chain and key loaded with OpenSSL the way the
// server uses them, so --check-config and the server's start report the same problems.

#include <optional>
#include <string>

#include "seamq/worker/config.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace seamq::worker {

//! What is wrong with admin.tls: the setting to fix and why.
struct AdminTlsProblem {
    std::string key;  //!< "admin.tls.certificate_file" or "admin.tls.key_file"
    std::string reason;
};

//! Sets `context` up for the admin server: TLS 1.2 or newer, no compression, no
//! renegotiation, the certificate chain of `tls.certificate_file` and the key of
//! `tls.key_file`, which must belong to it. An encrypted key fails (nobody is there to
//! type its password).
std::optional<AdminTlsProblem> configure_admin_tls(ssl_ctx_st& context, const AdminTlsSettings& tls);

//! configure_admin_tls on a throwaway context: the check validate_config runs.
std::optional<AdminTlsProblem> check_admin_tls(const AdminTlsSettings& tls);

}  // namespace seamq::worker
