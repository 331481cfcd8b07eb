#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/envelope/envelope.hpp"
#include "seamq/envelope/json_schema.hpp"

//! Event payload contracts: `schemas/events/<context>/<name>.v<n>.schema.json`, one
//! draft-07 schema per published version, immutable once locked in
//! `schemas/events/contracts.lock` (INV-023: a new meaning is a new v{n}).
//! Annotations: "x-sea-visibility": "internal"|"external" (required), "x-sea-kind":
//! "event"|"command" (default event), "x-sea-payload-mode": "full"|"redacted" (default
//! redacted; SDS-030), and "x-sea-sensitive": true on fields to drop from external copies.
namespace seamq::contracts {

//! What an external copy of an event carries (SDS-030 payload modes).
enum class PayloadMode { redacted, full };

//! One loaded contract.
struct Contract {
    envelope::Subject type;
    std::filesystem::path file;  //!< relative to the events directory, e.g. "sea/order-placed.v1.schema.json"
    envelope::Visibility visibility = envelope::Visibility::internal;
    PayloadMode payload_mode = PayloadMode::redacted;
    nlohmann::json schema;
    std::string sha256;  //!< content hash of the canonical form (see content_hash)
};

//! The contracts of an events directory, validating envelopes' `data` against them.
//! Immutable after load; safe to share between threads.
class Registry : public envelope::DataContracts {
public:
    //! Loads every contract under `events_dir` (e.g. schemas/events). Throws
    //! Error(Errc::contract) naming the file when one is malformed (run `sea-mq contracts
    //! lint` for every problem at once).
    static Registry load(const std::filesystem::path& events_dir);

    //! The contract of `type` (e.g. "sea.event.order-placed.v1"), or nullptr.
    const Contract* find(std::string_view type) const;
    std::size_t size() const noexcept { return contracts_.size(); }

    std::vector<envelope::Problem> check(const envelope::Subject& type,
                                         const nlohmann::json& document) const override;

private:
    struct Entry {
        Contract contract;
        std::shared_ptr<const envelope::JsonSchema> compiled;
    };
    std::map<std::string, Entry, std::less<>> contracts_;
};

//! SHA-256 (hex) of the schema's canonical form: compact JSON with object keys sorted,
//! so whitespace and key order do not count as changes, anything else does.
std::string content_hash(const nlohmann::json& schema);

//! One lint finding. `kind` is one of: file-name, json, schema, visibility, kind,
//! payload-mode, changed, deleted, unlocked, lock-file. `error` false = a note only.
struct Finding {
    std::string file;  //!< relative to the events directory
    std::string kind;
    std::string message;
    bool error = true;
};

//! The lock file of an events directory: `<events_dir>/contracts.lock`.
std::filesystem::path lock_file(const std::filesystem::path& events_dir);

//! Checks every contract file under `events_dir`: name vs subject grammar, valid JSON and
//! draft-07 schema, annotations, and immutability against contracts.lock. Top-level files
//! and the `messaging/` directory (stored-row schemas) are not contracts.
std::vector<Finding> lint(const std::filesystem::path& events_dir);

//! Adds every contract not yet in contracts.lock (never rewrites an entry). Returns the
//! types added. Throws Error(Errc::contract) listing the errors when lint finds any.
std::vector<std::string> lock(const std::filesystem::path& events_dir);

//! `data` without the fields `schema` marks "x-sea-sensitive": true, at any depth
//! (properties, additionalProperties, items, and allOf/anyOf/oneOf branches).
nlohmann::json redact(const nlohmann::json& data, const nlohmann::json& schema);

//! The external-facing copy of `event`: visibility "external", data redacted unless the
//! contract's payload mode is full. Fails closed: throws Error(Errc::contract) when the
//! event has no contract, its contract is internal, or it carries data_base64 that
//! cannot be redacted.
envelope::Envelope external_copy(const envelope::Envelope& event, const Registry& registry);

}  // namespace seamq::contracts
