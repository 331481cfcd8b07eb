#pragma once

// NATS decentralized authentication ("operator mode") for tests, without nsc: an
// operator, a system account and accounts as NKeys and signed JWTs, users as .creds
// files, and the nats-server configuration that trusts them (memory resolver).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/nats/credentials.hpp"

namespace seamq::testing {

//! A JWT as nats-server reads it: header {"typ":"JWT","alg":"ed25519-nkey"}, the claims
//! jti (an id: base32 of the SHA-512/256 of the claims without jti, as the Go jwt library
//! makes it), iat, iss (the issuer's public key), sub, name and `nats` (which must hold
//! "type"; "version": 2 is added), signed by `issuer`.
std::string mint_jwt(const nats::NKeySeed& issuer, const std::string& subject, const std::string& name,
                     nlohmann::json nats_claims);

//! Text of a .creds file (the layout nsc writes) for a user JWT and the user's seed.
std::string credentials_text(const std::string& user_jwt, const nats::NKeySeed& user_seed);

//! Who may publish and subscribe to what (nats-server permission lists); empty: anything.
struct NatsPermissions {
    std::vector<std::string> publish_allow;
    std::vector<std::string> subscribe_allow;
};

//! One operator with a system account ("SYS") and any number of accounts.
class NatsOperator {
public:
    struct Account {
        std::string name;
        nats::NKeySeed key;
        std::string jwt;
    };

    explicit NatsOperator(std::string name = "seamq-test-operator");

    //! An account signed by the operator; with `jetstream` its limits allow JetStream
    //! without bounds (mem_storage/disk_storage/streams/consumer -1). Before server_config().
    const Account& add_account(const std::string& name, bool jetstream = true);
    const Account& account(const std::string& name) const;
    const Account& system_account() const { return accounts_.at(system_account_name); }

    //! A user JWT for a user key, signed by the account.
    std::string user_jwt(const std::string& account_name, const nats::NKeySeed& user, const std::string& name,
                         const NatsPermissions& permissions = {}) const;
    //! A fresh user of the account written as a .creds file at `file`; returns `file`.
    std::filesystem::path write_credentials(const std::string& account_name, const std::string& user_name,
                                            const std::filesystem::path& file,
                                            const NatsPermissions& permissions = {}) const;

    //! nats-server configuration lines: operator, system_account, resolver: MEMORY and
    //! resolver_preload with every account (NatsServer::Options::extra_config).
    std::string server_config() const;

    const nats::NKeySeed& key() const { return key_; }
    const std::string& jwt() const { return jwt_; }

    static constexpr const char* system_account_name = "SYS";

private:
    std::string name_;
    nats::NKeySeed key_;
    std::string jwt_;
    std::map<std::string, Account> accounts_;
};

}  // namespace seamq::testing
