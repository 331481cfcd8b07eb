#include "seamq/testing/certificates.hpp"

#include <cctype>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "seamq/core/error.hpp"

namespace seamq::testing {

namespace fs = std::filesystem;

namespace {

std::string tail(const fs::path& file, std::size_t max_bytes = 1500) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const auto all = text.str();
    return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

// File names from a common name: "seamq test CA" -> "seamq-test-ca".
std::string file_stem(const std::string& common_name) {
    std::string stem;
    for (const char c : common_name) {
        stem += std::isalnum(static_cast<unsigned char>(c)) != 0 ? static_cast<char>(std::tolower(c)) : '-';
    }
    return stem.empty() ? "certificate" : stem;
}

const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};

}  // namespace

void run_to_completion(const std::vector<std::string>& argv, const fs::path& log_file,
                       std::chrono::milliseconds timeout) {
    ChildProcess process(ChildProcess::Options{.argv = argv, .log_file = log_file});
    const auto status = process.wait_for_exit(timeout);
    if (!status) {
        process.kill();
        raise(Errc::timeout, "{} did not finish within {} ms: {}", argv.front(), timeout.count(),
              tail(log_file));
    }
    if (const auto code = ChildProcess::exit_code(*status); code != 0)
        raise(Errc::io, "{} failed (exit {}): {}", fmt::join(argv, " "), code, tail(log_file));
}

CertificateAuthority::CertificateAuthority(std::string common_name)
    : dir_(std::make_unique<TempDir>("ca-" + file_stem(common_name))) {
    certificate_file_ = dir_->path() / "ca.pem";
    key_file_ = dir_->path() / "ca.key";
    std::vector<std::string> argv = {"openssl", "req", "-x509"};
    argv.insert(argv.end(), ec_key.begin(), ec_key.end());
    argv.insert(argv.end(), {"-keyout", key_file_.string(), "-out", certificate_file_.string(), "-days", "2",
                             "-subj", "/CN=" + common_name, "-addext", "basicConstraints=critical,CA:TRUE",
                             "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
    run_to_completion(argv, dir_->path() / "openssl.log");
    fs::permissions(key_file_, fs::perms::owner_read | fs::perms::owner_write);
}

IssuedCertificate CertificateAuthority::issue_server(const std::string& common_name,
                                                     const std::vector<std::string>& subject_alt_names) {
    std::string extensions =
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n";
    if (!subject_alt_names.empty())
        extensions += fmt::format("subjectAltName={}\n", fmt::join(subject_alt_names, ","));
    return issue(common_name, extensions);
}

IssuedCertificate CertificateAuthority::issue_client(const std::string& common_name) {
    return issue(
        common_name,
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
}

IssuedCertificate CertificateAuthority::issue(const std::string& common_name, const std::string& extensions) {
    const auto stem = fmt::format("{}-{}", file_stem(common_name), ++issued_);
    const auto base = dir_->path() / stem;
    IssuedCertificate issued{base.string() + ".pem", base.string() + ".key"};
    const fs::path request = base.string() + ".csr";
    const fs::path extension_file = base.string() + ".ext";
    std::ofstream(extension_file) << extensions;
    const fs::path log = dir_->path() / "openssl.log";

    std::vector<std::string> argv = {"openssl", "req", "-new"};
    argv.insert(argv.end(), ec_key.begin(), ec_key.end());
    argv.insert(argv.end(), {"-keyout", issued.key_file.string(), "-out", request.string(), "-subj",
                             "/CN=" + common_name});
    run_to_completion(argv, log);
    // A random serial: two certificates of one CA never share one (clients reject that).
    std::random_device random;
    const auto serial = fmt::format("0x{:08x}{:08x}", random(), random());
    run_to_completion({"openssl", "x509", "-req", "-in", request.string(), "-CA", certificate_file_.string(),
                       "-CAkey", key_file_.string(), "-set_serial", serial, "-days", "2", "-extfile",
                       extension_file.string(), "-out", issued.certificate_file.string()},
                      log);
    fs::permissions(issued.key_file, fs::perms::owner_read | fs::perms::owner_write);
    return issued;
}

}  // namespace seamq::testing
