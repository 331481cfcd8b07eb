#include "seamq/testing/certificates.hpp"

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::testing {

namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

void run_openssl(const fs::path& directory, std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), "openssl");
    const auto log = directory / "openssl.log";
    ChildProcess openssl(ChildProcess::Options{
        .argv = arguments,
        .log_file = log,
        .run_as_user = std::nullopt,
        .env = {},
        .working_directory = directory,
    });
    const auto status = openssl.wait_for_exit(std::chrono::seconds(30));
    if (!status || ChildProcess::exit_code(*status) != 0) {
        raise(Errc::io, "`{}` failed in {} (is the openssl command line installed?):\n{}",
              fmt::join(arguments, " "), directory.string(), read_all(log));
    }
}

// Each call has its own configuration file: the system's openssl.cnf may add extensions
// of its own (v3_ca) that would clash with ours.
fs::path write_config(const fs::path& directory, const std::string& stem, const std::string& common_name,
                      const std::string& extensions) {
    auto file = directory / (stem + ".cnf");
    std::ofstream(file) << "[req]\nprompt = no\ndistinguished_name = dn\n"
                        << "[dn]\nCN = " << common_name << "\n"
                        << "[extensions]\n"
                        << extensions;
    return file;
}

// openssl arguments for a new unencrypted EC P-256 key (quick to make, accepted by both ends).
void add_new_ec_key(std::vector<std::string>& arguments) {
    arguments.insert(arguments.end(),
                     {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"});
}

void restrict_key(const fs::path& key) {
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

}  // namespace

CertificateAuthority::CertificateAuthority(fs::path directory, std::string stem)
    : directory_(std::move(directory)),
      certificate_file_(directory_ / (stem + ".crt")),
      key_file_(directory_ / (stem + ".key")) {
    // A distinct subject per CA, so that a certificate of another CA is "unable to get local
    // issuer certificate" for this one, never a signature mismatch under the same name.
    const auto name = fmt::format("sea-mq test CA {} {}", directory_.filename().string(), stem);
    const auto config = write_config(directory_, stem, name,
                                     "basicConstraints = critical, CA:TRUE\n"
                                     "keyUsage = critical, keyCertSign, cRLSign\n"
                                     "subjectKeyIdentifier = hash\n");
    std::vector<std::string> arguments = {"req", "-x509", "-new"};
    add_new_ec_key(arguments);
    arguments.insert(arguments.end(),
                     {"-keyout", key_file_.string(), "-out", certificate_file_.string(), "-days", "2",
                      "-config", config.string(), "-extensions", "extensions"});
    run_openssl(directory_, std::move(arguments));
    restrict_key(key_file_);
}

CertificateAuthority::Issued CertificateAuthority::issue(const std::string& stem,
                                                         const std::string& common_name,
                                                         const std::string& subject_alt_names) const {
    Issued issued{directory_ / (stem + ".crt"), directory_ / (stem + ".key")};
    std::string extensions =
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth, clientAuth\n"
        "authorityKeyIdentifier = keyid\n";
    if (!subject_alt_names.empty()) extensions += "subjectAltName = " + subject_alt_names + "\n";
    const auto config = write_config(directory_, stem, common_name, extensions);
    const auto request = directory_ / (stem + ".csr");
    std::vector<std::string> arguments = {"req", "-new"};
    add_new_ec_key(arguments);
    arguments.insert(arguments.end(), {"-keyout", issued.key_file.string(), "-out", request.string(),
                                       "-config", config.string()});
    run_openssl(directory_, std::move(arguments));
    restrict_key(issued.key_file);

    std::random_device device;
    const auto serial = (static_cast<std::uint64_t>(device()) << 31U) ^ device();
    run_openssl(directory_,
                {"x509", "-req", "-in", request.string(), "-CA", certificate_file_.string(), "-CAkey",
                 key_file_.string(), "-set_serial", std::to_string(serial), "-days", "2", "-out",
                 issued.certificate_file.string(), "-extfile", config.string(), "-extensions", "extensions"});
    return issued;
}

}  // namespace seamq::testing
