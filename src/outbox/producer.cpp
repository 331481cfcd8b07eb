#include "seamq/outbox/producer.hpp"

#include "seamq/core/error.hpp"

namespace seamq::outbox {

namespace {

constexpr std::string_view enqueue_statement = "seamq_outbox_enqueue";
constexpr std::string_view enqueue_sql = "SELECT seamq.enqueue($1::jsonb)";
constexpr std::string_view enqueue_many_statement = "seamq_outbox_enqueue_many";
constexpr std::string_view enqueue_many_sql =
    "SELECT id FROM unnest(seamq.enqueue_many($1::jsonb[])) WITH ORDINALITY AS t(id, n) ORDER BY n";

// Prepared once per connection (remembered across reconnects by postgres::Connection).
postgres::Result run_prepared(postgres::Transaction& transaction, std::string_view name, std::string_view sql,
                              const std::string& argument) {
    const std::string statement(name);
    transaction.connection().prepare(statement, sql);
    return transaction.exec_prepared(statement, argument);
}

}  // namespace

void Producer::check(const envelope::Envelope& event) const {
    const auto problems = validator_.validate_document(event.json());
    if (problems.empty()) return;
    std::string listed;
    for (const auto& problem : problems) listed += "\n  " + envelope::to_string(problem);
    raise(Errc::invalid_envelope,
          "outbox: event {} (type {}) is not a valid envelope, nothing was appended:{}", event.id(),
          event.type(), listed);
}

std::string Producer::append(postgres::Transaction& transaction, const envelope::Envelope& event) const {
    check(event);
    return run_prepared(transaction, enqueue_statement, enqueue_sql, event.to_json()).get<std::string>(0, 0);
}

std::string Producer::append(postgres::Transaction& transaction, std::string_view envelope_json) const {
    const auto event = validator_.parse(envelope_json);
    return run_prepared(transaction, enqueue_statement, enqueue_sql, event.to_json()).get<std::string>(0, 0);
}

std::vector<std::string> Producer::append(postgres::Transaction& transaction,
                                          std::span<const envelope::Envelope> events) const {
    if (events.empty()) return {};
    std::vector<std::string> documents;
    documents.reserve(events.size());
    for (const auto& event : events) {
        check(event);
        documents.push_back(event.to_json());
    }
    const auto rows = run_prepared(transaction, enqueue_many_statement, enqueue_many_sql,
                                   postgres::array_literal(documents));
    std::vector<std::string> ids;
    ids.reserve(static_cast<std::size_t>(rows.rows()));
    for (int row = 0; row < rows.rows(); ++row) ids.push_back(rows.get<std::string>(row, 0));
    if (ids.size() != events.size()) {
        raise(Errc::internal, "outbox: appended {} events but seamq.enqueue_many returned {} ids",
              events.size(), ids.size());
    }
    return ids;
}

}  // namespace seamq::outbox
