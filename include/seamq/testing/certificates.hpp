#pragma once

// Throwaway X.509 certificates for TLS tests, made with the openssl command-line tool:
// a certificate authority that issues server certificates (with subject alternative
// names) and client certificates (for mutual TLS). Any TLS server a test starts
// (nats-server, PostgreSQL, an HTTP endpoint) can use them.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "seamq/testing/process.hpp"

namespace seamq::testing {

//! A certificate and its private key, PEM files (the key readable by its owner only).
struct IssuedCertificate {
    std::filesystem::path certificate_file;
    std::filesystem::path key_file;
};

//! A self-signed CA (EC P-256, valid for two days) in a directory of its own, removed
//! with it. Distinct instances are unrelated: a certificate of one does not verify with
//! another's certificate_file (the "wrong CA" case).
class CertificateAuthority {
public:
    explicit CertificateAuthority(std::string common_name = "seamq test CA");
    CertificateAuthority(const CertificateAuthority&) = delete;
    CertificateAuthority& operator=(const CertificateAuthority&) = delete;

    //! The CA certificate: what clients and servers list as trusted (ca_file).
    const std::filesystem::path& certificate_file() const { return certificate_file_; }
    const std::filesystem::path& key_file() const { return key_file_; }
    const std::filesystem::path& directory() const { return dir_->path(); }

    //! A server certificate (extendedKeyUsage serverAuth) for the given names, each
    //! "DNS:<name>" or "IP:<address>".
    IssuedCertificate issue_server(const std::string& common_name,
                                   const std::vector<std::string>& subject_alt_names = {"DNS:localhost",
                                                                                        "IP:127.0.0.1"});
    //! A client certificate (extendedKeyUsage clientAuth) whose subject CN is `common_name`.
    IssuedCertificate issue_client(const std::string& common_name);

private:
    IssuedCertificate issue(const std::string& common_name, const std::string& extensions);

    std::unique_ptr<TempDir> dir_;
    std::filesystem::path certificate_file_;
    std::filesystem::path key_file_;
    int issued_ = 0;
};

//! Runs `argv` to completion (bounded by `timeout`) with its output in `log_file`;
//! throws seamq::Error(io) with the exit status and the log's tail when it fails.
void run_to_completion(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace seamq::testing
