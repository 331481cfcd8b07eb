#pragma once

// Throwaway TLS material for the admin server's tests, made with the openssl CLI: a CA, a
// server certificate for 127.0.0.1 signed by it, its key, and a key of nothing.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/observability/run_command.hpp"
#include <gtest/gtest.h>

namespace seamq::worker::test {

struct TestCertificates {
    std::filesystem::path ca;           //!< the CA certificate clients trust
    std::filesystem::path certificate;  //!< CN and subjectAltName IP 127.0.0.1, signed by the CA
    std::filesystem::path key;          //!< certificate's key
    std::filesystem::path other_key;    //!< a key that belongs to no certificate here
};

//! Writes the files into `directory`; fails the test (ADD_FAILURE) when openssl does.
inline TestCertificates make_test_certificates(const std::filesystem::path& directory) {
    const auto at = [&](const char* name) { return (directory / name).string(); };
    std::ofstream(at("server.ext")) << "subjectAltName = IP:127.0.0.1\n"
                                       "extendedKeyUsage = serverAuth\n";
    const std::vector<std::vector<std::string>> commands = {
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "2", "-subj", "/CN=sea-mq test CA"},
        {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", at("server.key"), "-out", at("server.csr"), "-subj", "/CN=127.0.0.1"},
        {"openssl", "x509", "-req", "-in", at("server.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca.key"),
         "-CAcreateserial", "-days", "2", "-extfile", at("server.ext"), "-out", at("server.pem")},
        {"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         at("other.key")},
    };
    for (const auto& command : commands) {
        const auto result = test_support::run_command(command);
        if (result.exit_code != 0) ADD_FAILURE() << command[1] << " failed: " << result.output;
    }
    return {directory / "ca.pem", directory / "server.pem", directory / "server.key",
            directory / "other.key"};
}

}  // namespace seamq::worker::test
