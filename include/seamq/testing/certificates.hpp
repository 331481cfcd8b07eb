#pragma once

#include <filesystem>
#include <string>

namespace seamq::testing {

//! A throwaway certificate authority for TLS tests, made with the `openssl` command line
//! in a directory the test owns: an EC P-256 key and a self-signed CA certificate valid
//! for two days. Two instances are two unrelated CAs (a "wrong CA" test uses a second one).
class CertificateAuthority {
public:
    //! A key and the certificate this CA signed for it (PEM files; the key has mode 0600,
    //! which PostgreSQL and libpq demand of private keys).
    struct Issued {
        std::filesystem::path certificate_file;
        std::filesystem::path key_file;
    };

    //! Writes `<stem>.crt` and `<stem>.key` (the CA's own) into `directory`, which exists.
    CertificateAuthority(std::filesystem::path directory, std::string stem = "ca");

    const std::filesystem::path& certificate_file() const { return certificate_file_; }
    const std::filesystem::path& key_file() const { return key_file_; }

    //! A certificate for `common_name` with `subject_alt_names` in openssl's notation
    //! ("DNS:localhost,IP:127.0.0.1"; empty: none), for server and client authentication,
    //! written to `<stem>.crt` and `<stem>.key` beside the CA's.
    Issued issue(const std::string& stem, const std::string& common_name,
                 const std::string& subject_alt_names) const;

private:
    std::filesystem::path directory_;
    std::filesystem::path certificate_file_;
    std::filesystem::path key_file_;
};

}  // namespace seamq::testing
