#include "seamq/testing/nats_operator.hpp"

#include <chrono>
#include <fstream>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "seamq/core/error.hpp"

namespace seamq::testing {

namespace {

std::string base32_without_padding(const unsigned char* bytes, std::size_t size) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string out;
    std::uint64_t buffer = 0;
    int bits = 0;
    for (std::size_t i = 0; i < size; ++i) {
        buffer = (buffer << 8) | bytes[i];
        bits += 8;
        while (bits >= 5) {
            out += alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
    return out;
}

std::string claims_id(const std::string& claims_without_id) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(claims_without_id.data(), claims_without_id.size(), digest, &size, EVP_sha512_256(),
                   nullptr) != 1)
        raise(Errc::internal, "OpenSSL cannot hash JWT claims");
    return base32_without_padding(digest, size);
}

nlohmann::json permission_list(const std::vector<std::string>& allow) {
    return allow.empty() ? nlohmann::json::object() : nlohmann::json{{"allow", allow}};
}

}  // namespace

std::string mint_jwt(const nats::NKeySeed& issuer, const std::string& subject, const std::string& name,
                     nlohmann::json nats_claims) {
    nats_claims["version"] = 2;
    nlohmann::json claims = {
        {"iat",
         std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
             .count()},
        {"iss", issuer.public_key()},
        {"name", name},
        {"sub", subject},
        {"nats", std::move(nats_claims)},
    };
    claims["jti"] = claims_id(claims.dump());
    const std::string signed_part = nats::base64url_encode(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." +
                                    nats::base64url_encode(claims.dump());
    return signed_part + "." + nats::base64url_encode(issuer.sign(signed_part));
}

std::string credentials_text(const std::string& user_jwt, const nats::NKeySeed& user_seed) {
    return fmt::format(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n"
        "*************************************************************\n",
        user_jwt, user_seed.seed());
}

NatsOperator::NatsOperator(std::string name)
    : name_(std::move(name)), key_(nats::NKeySeed::generate(nats::NKeyRole::operator_)) {
    const auto& system = add_account(system_account_name, /*jetstream=*/false);
    jwt_ = mint_jwt(key_, key_.public_key(), name_,
                    {{"type", "operator"}, {"system_account", system.key.public_key()}});
}

const NatsOperator::Account& NatsOperator::add_account(const std::string& name, bool jetstream) {
    if (accounts_.count(name) != 0) raise(Errc::invalid_argument, "account {} exists already", name);
    auto key = nats::NKeySeed::generate(nats::NKeyRole::account);
    nlohmann::json limits = {{"subs", -1},    {"data", -1}, {"payload", -1}, {"imports", -1},
                             {"exports", -1}, {"conn", -1}, {"leaf", -1},    {"wildcards", true}};
    if (jetstream) {
        // nats-server 2.9 enables JetStream for an account whose mem or disk limit is not 0.
        limits.update({{"mem_storage", -1}, {"disk_storage", -1}, {"streams", -1}, {"consumer", -1}});
    }
    nlohmann::json claims = {
        {"type", "account"},
        {"limits", limits},
        {"default_permissions", {{"pub", nlohmann::json::object()}, {"sub", nlohmann::json::object()}}}};
    auto jwt = mint_jwt(key_, key.public_key(), name, std::move(claims));
    return accounts_.emplace(name, Account{name, key, std::move(jwt)}).first->second;
}

const NatsOperator::Account& NatsOperator::account(const std::string& name) const {
    const auto found = accounts_.find(name);
    if (found == accounts_.end()) raise(Errc::not_found, "no account {}", name);
    return found->second;
}

std::string NatsOperator::user_jwt(const std::string& account_name, const nats::NKeySeed& user,
                                   const std::string& name, const NatsPermissions& permissions) const {
    const auto& issuer = account(account_name);
    nlohmann::json claims = {{"type", "user"},
                             {"pub", permission_list(permissions.publish_allow)},
                             {"sub", permission_list(permissions.subscribe_allow)},
                             {"subs", -1},
                             {"data", -1},
                             {"payload", -1}};
    return mint_jwt(issuer.key, user.public_key(), name, std::move(claims));
}

std::filesystem::path NatsOperator::write_credentials(const std::string& account_name,
                                                      const std::string& user_name,
                                                      const std::filesystem::path& file,
                                                      const NatsPermissions& permissions) const {
    const auto user = nats::NKeySeed::generate(nats::NKeyRole::user);
    std::ofstream out(file);
    out << credentials_text(user_jwt(account_name, user, user_name, permissions), user);
    if (!out) raise(Errc::io, "cannot write {}", file.string());
    return file;
}

std::string NatsOperator::server_config() const {
    std::string text =
        fmt::format("operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n", jwt_,
                    system_account().key.public_key());
    for (const auto& [name, account] : accounts_) {
        text += fmt::format("  {}: \"{}\"\n", account.key.public_key(), account.jwt);
    }
    return text + "}\n";
}

}  // namespace seamq::testing
