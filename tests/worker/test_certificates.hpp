#pragma once

// Throwaway TLS material for the admin server's tests (testing::CertificateAuthority, the
// openssl CLI): a CA, a server certificate for 127.0.0.1 signed by it, its key, and a key
// of another certificate, copied into the test's directory.
#include <filesystem>

#include "seamq/testing/certificates.hpp"

namespace seamq::worker::test {

struct TestCertificates {
    std::filesystem::path ca;           //!< the CA certificate clients trust
    std::filesystem::path certificate;  //!< CN and subjectAltName IP 127.0.0.1, signed by the CA
    std::filesystem::path key;          //!< certificate's key
    std::filesystem::path other_key;    //!< a key that does not belong to certificate
};

//! Writes ca.pem, server.pem, server.key and other.key into `directory`.
inline TestCertificates make_test_certificates(const std::filesystem::path& directory) {
    testing::CertificateAuthority authority("sea-mq admin test CA");
    const auto server = authority.issue_server("127.0.0.1", {"IP:127.0.0.1"});
    const auto other = authority.issue_client("someone else");
    const TestCertificates result{directory / "ca.pem", directory / "server.pem", directory / "server.key",
                                  directory / "other.key"};
    const auto copy = std::filesystem::copy_options::overwrite_existing;
    std::filesystem::copy_file(authority.certificate_file(), result.ca, copy);
    std::filesystem::copy_file(server.certificate_file, result.certificate, copy);
    std::filesystem::copy_file(server.key_file, result.key, copy);
    std::filesystem::copy_file(other.key_file, result.other_key, copy);
    return result;
}

}  // namespace seamq::worker::test
