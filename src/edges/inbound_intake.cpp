#include "seamq/edges/inbound_intake.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/outbox/producer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::edges {
namespace {

IntakeAnswer refuse(int status, std::string outcome, std::string message) {
    IntakeAnswer answer{status, outcome, {{"error", outcome}, {"message", std::move(message)}}, {}};
    return answer;
}

std::string_view explain(Verdict verdict) {
    switch (verdict) {
        case Verdict::missing_header:
            return "webhook-id, webhook-timestamp and webhook-signature are required (webhook-id at most 256 "
                   "characters)";
        case Verdict::malformed_timestamp: return "webhook-timestamp is not Unix seconds";
        case Verdict::timestamp_too_old: return "webhook-timestamp is older than the tolerance allows";
        case Verdict::timestamp_too_new:
            return "webhook-timestamp is further in the future than the tolerance allows";
        case Verdict::no_matching_signature: return "no v1 signature matches this partner's secrets";
        case Verdict::valid: return "valid";
    }
    return "unknown";
}

// One libpq session per concurrent request; sessions are kept for the next request.
class ConnectionPool {
public:
    explicit ConnectionPool(std::string conninfo) : conninfo_(std::move(conninfo)) {}

    std::unique_ptr<postgres::Connection> take() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                auto connection = std::move(idle_.back());
                idle_.pop_back();
                return connection;
            }
        }
        return std::make_unique<postgres::Connection>(
            postgres::ConnectOptions{.conninfo = conninfo_,
                                     .connect_timeout = std::chrono::seconds(2),
                                     .application_name = "sea-mq-worker/inbound",
                                     .statement_timeout = std::chrono::seconds(5)});
    }
    void give_back(std::unique_ptr<postgres::Connection> connection) {
        if (!connection || !connection->is_alive() || connection->in_transaction()) return;
        std::lock_guard lock(mutex_);
        if (idle_.size() < 16) idle_.push_back(std::move(connection));
    }

private:
    std::string conninfo_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<postgres::Connection>> idle_;
};

}  // namespace

// Messages fit for the partner: they are the 400 answer's.
envelope::Envelope map_partner_payload(const InboundPartner& partner, const std::string& webhook_id,
                                       const nlohmann::json& payload, const envelope::Validator& validator) {
    std::string subject = partner.name;
    if (!partner.subject_pointer.empty()) {
        const nlohmann::json::json_pointer pointer(partner.subject_pointer);
        if (!payload.contains(pointer))
            raise(Errc::invalid_argument, "the payload has nothing at {} (the ordering key)",
                  partner.subject_pointer);
        const auto& value = payload.at(pointer);
        if (value.is_string()) {
            subject = value.get<std::string>();
        } else if (value.is_number_integer()) {
            subject = value.dump();
        } else {
            raise(Errc::invalid_argument, "the value at {} is not a string or an integer",
                  partner.subject_pointer);
        }
    }
    nlohmann::json kept = payload;
    if (!partner.payload_pointer.empty()) {
        const nlohmann::json::json_pointer pointer(partner.payload_pointer);
        if (!payload.contains(pointer))
            raise(Errc::invalid_argument, "the payload has nothing at {}", partner.payload_pointer);
        kept = payload.at(pointer);
    }
    return envelope::EnvelopeBuilder(partner.command, "/partners/" + partner.name, subject)
        .correlation_id(webhook_id)
        .data({{"partner", partner.name}, {"signal_id", webhook_id}, {"payload", std::move(kept)}})
        .build(validator);
}

struct InboundIntake::Impl {
    struct Partner {
        InboundPartner settings;
        ConnectionPool* pool = nullptr;
    };

    Impl(std::vector<InboundPartner> configured, const envelope::Validator& contracts_validator)
        : validator(contracts_validator), producer(contracts_validator) {
        for (auto& partner : configured) {
            auto& pool = pools[partner.database];
            if (!pool) pool = std::make_unique<ConnectionPool>(partner.database);
            const auto name = partner.name;
            this->partners.emplace(name, Partner{std::move(partner), pool.get()});
        }
    }

    const envelope::Validator& validator;
    outbox::Producer producer;
    std::map<std::string, std::unique_ptr<ConnectionPool>> pools;
    std::map<std::string, Partner, std::less<>> partners;
};

InboundIntake::InboundIntake(std::vector<InboundPartner> partners, const envelope::Validator& validator)
    : impl_(std::make_unique<Impl>(std::move(partners), validator)) {}

InboundIntake::~InboundIntake() = default;

std::size_t InboundIntake::largest_body_limit() const {
    std::size_t largest = 0;
    for (const auto& [name, partner] : impl_->partners)
        largest = std::max(largest, partner.settings.max_body_bytes);
    return largest;
}

std::string InboundIntake::check_databases() {
    for (auto& [conninfo, pool] : impl_->pools) {
        try {
            auto connection = pool->take();
            connection->exec("SELECT 1");
            pool->give_back(std::move(connection));
        } catch (const Error& e) {
            return e.what();
        }
    }
    return "";
}

IntakeAnswer InboundIntake::receive(std::string_view partner_name, const WebhookHeaders& headers,
                                    std::string_view body, std::chrono::system_clock::time_point now) {
    const auto found = impl_->partners.find(partner_name);
    if (found == impl_->partners.end())
        return refuse(404, "unknown_partner", "no partner of that name is configured");
    const auto& partner = found->second.settings;
    if (body.size() > partner.max_body_bytes)
        return refuse(413, "too_large",
                      fmt::format("the body is {} bytes; this partner may send at most {}", body.size(),
                                  partner.max_body_bytes));
    const auto verdict = verify(partner.secrets, headers, body, now, partner.tolerance);
    if (verdict != Verdict::valid) {
        auto answer = refuse(401, "invalid_signature", std::string(explain(verdict)));
        answer.body["reason"] = std::string(to_string(verdict));
        return answer;
    }
    const auto payload = nlohmann::json::parse(body, nullptr, false);
    if (payload.is_discarded()) return refuse(400, "bad_payload", "the body is not JSON");
    std::optional<envelope::Envelope> command;
    try {
        command = map_partner_payload(partner, headers.id, payload, impl_->validator);
    } catch (const Error& e) {
        return refuse(400, "bad_payload", e.what());
    }

    auto& pool = *found->second.pool;
    std::unique_ptr<postgres::Connection> connection;
    try {
        connection = pool.take();
        postgres::Transaction transaction(*connection);
        // Blocks behind a concurrent delivery of the same id until it commits, then finds it.
        const auto inserted = transaction.exec(
            "INSERT INTO seamq.inbound_deliveries (partner, webhook_id, event_id) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            partner.name, headers.id, command->id());
        if (inserted.empty()) {
            const auto first = transaction.exec(
                "SELECT event_id FROM seamq.inbound_deliveries WHERE partner = $1 AND webhook_id = $2",
                partner.name, headers.id);
            transaction.rollback();
            pool.give_back(std::move(connection));
            IntakeAnswer answer{200, "duplicate", {{"status", "duplicate"}, {"webhook_id", headers.id}}, {}};
            if (!first.empty()) {
                answer.event_id = first.get<std::string>(0, 0);
                answer.body["event_id"] = answer.event_id;
            }
            return answer;
        }
        impl_->producer.append(transaction, *command);
        transaction.commit();
        pool.give_back(std::move(connection));
    } catch (const Error& e) {
        auto answer = refuse(503, "not_ready", "the command could not be stored; retry later");
        answer.body["detail"] = e.what();
        return answer;
    }
    return {202,
            "accepted",
            {{"status", "accepted"}, {"event_id", command->id()}, {"webhook_id", headers.id}},
            command->id()};
}

}  // namespace seamq::edges
