#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

//! The canonical event envelope: a CloudEvents 1.0 event in JSON structured mode whose
//! `type` is the versioned event name and also the NATS subject it is published on.
//! Schema: schemas/events/envelope-v1.schema.json (embedded into the library at build time).
namespace seamq::envelope {

inline constexpr std::string_view spec_version = "1.0";
inline constexpr std::string_view json_content_type = "application/json";

//! Limits applied before anything else is looked at, so an oversized input fails fast
//! with a clear error instead of being truncated or parsed.
struct Limits {
    std::size_t max_bytes = std::size_t{1} << 20;  //!< serialized envelope size, 1 MiB by default
    //! Nesting of arrays and objects (the envelope object is level 1). Real envelopes stay
    //! far below; the limit keeps the recursive schema checks off the end of the stack.
    std::size_t max_depth = 64;
};

//! One reason a document is not a valid envelope: where (JSON Pointer, "" = the whole
//! document), which rule (a JSON Schema keyword such as "required", or "subject-grammar",
//! "size", "json", "number-range", "depth", "format", "contract"), the offending value
//! (JSON text, shortened) and a sentence for people.
struct Problem {
    std::string path;
    std::string rule;
    std::string value;
    std::string message;
};

//! "/path: rule: message (value: ...)" — the form the CLI prints, one line per problem;
//! control characters in it are written as \u00XX so that a line stays one line.
std::string to_string(const Problem& problem);

//! Whether an event may leave its bounded context (extension attribute `visibility`).
enum class Visibility { internal, external };
std::string_view to_string(Visibility visibility) noexcept;

//! Facts (`event`) or requests (`command`).
enum class Kind { event, command };
std::string_view to_string(Kind kind) noexcept;

//! A parsed `type`: `{context}.{event|command}.{name}.v{version}`.
//! context and name: a lowercase letter, then lowercase letters and digits, optionally
//! in words joined by one `-` or `_` (`^[a-z][a-z0-9]*([-_][a-z0-9]+)*$`); context at most
//! 32 characters and not `dlq` (reserved for dead-letter subjects), name at most 64;
//! version 1..999999 without leading zeros. The whole type is at most 128 characters.
//! Being a NATS subject, it therefore never holds spaces, `*`, `>` or empty tokens.
struct Subject {
    std::string context;
    Kind kind = Kind::event;
    std::string name;
    unsigned version = 1;

    //! The type / NATS subject, e.g. "sea.event.order-placed.v1".
    std::string to_string() const;
    bool operator==(const Subject&) const = default;
};

//! Why `type` breaks the subject grammar, or nullopt when it is valid.
std::optional<std::string> subject_problem(std::string_view type);
//! Parses `type`; throws Error(Errc::invalid_envelope) naming the problem.
Subject parse_subject(std::string_view type);

//! A new random event id: a UUID version 4 in lowercase canonical text form.
std::string new_event_id();
//! The current time as RFC 3339 UTC with microseconds, e.g. "2024-05-01T12:00:00.123456Z".
std::string now_rfc3339();

//! Checks an event against its payload contract; implemented by
//! seamq::contracts::Registry (the contracts module depends on this one, not the reverse).
class DataContracts {
public:
    virtual ~DataContracts() = default;
    //! Problems of the envelope `document` (already valid against the envelope schema)
    //! against the contract of `type`: `data` against the contract's schema (paths like
    //! "/data/customer/email"), visibility against the contract's; empty when valid or
    //! when no contract exists for the type.
    virtual std::vector<Problem> check(const Subject& type, const nlohmann::json& document) const = 0;
};

class Envelope;

//! Validates documents against the envelope schema, the subject grammar, the size limit
//! and, when given contracts, the payload contract of the event's type. Immutable and
//! safe to share between threads.
class Validator {
public:
    //! Uses the envelope schema embedded at build time, or the file
    //! $SEAMQ_SCHEMAS_DIR/events/envelope-v1.schema.json when that variable is set.
    explicit Validator(Limits limits = {}, const DataContracts* contracts = nullptr);
    //! Uses the schema in `schema_file` (throws Error(Errc::config) when it is unreadable
    //! or not a valid draft-07 schema).
    Validator(const std::filesystem::path& schema_file, Limits limits = {},
              const DataContracts* contracts = nullptr);
    ~Validator();
    Validator(Validator&&) noexcept;
    Validator& operator=(Validator&&) noexcept;
    Validator(const Validator&) = delete;
    Validator& operator=(const Validator&) = delete;

    //! Every problem of the JSON text (size first: an oversized text is not parsed). Total:
    //! any bytes give problems, never an exception. Text that is not JSON (bad syntax,
    //! invalid UTF-8, a lone surrogate escape) is rule "json"; a number beyond the largest
    //! finite double "number-range" (one below the smallest is read as 0); nesting beyond
    //! Limits::max_depth "depth". A key given twice keeps its last value, as PostgreSQL's
    //! jsonb does.
    std::vector<Problem> validate(std::string_view json_text) const;
    //! Every problem of an already parsed document (size measured on its compact dump).
    std::vector<Problem> validate_document(const nlohmann::json& document) const;
    //! Same as validate_document.
    std::vector<Problem> validate(const nlohmann::json& document) const {
        return validate_document(document);
    }
    //! JSON text (these overloads keep a std::string from converting to nlohmann::json).
    std::vector<Problem> validate(const std::string& json_text) const {
        return validate(std::string_view(json_text));
    }
    std::vector<Problem> validate(const char* json_text) const {
        return validate(std::string_view(json_text));
    }

    //! Parses and validates; throws Error(Errc::too_large) or Error(Errc::invalid_envelope)
    //! whose message lists all problems, one per line.
    Envelope parse(std::string_view json_text) const;

    const Limits& limits() const noexcept;

private:
    friend class Envelope;
    friend class EnvelopeBuilder;
    struct State;
    //! A validator on the built-in schema, whatever the environment says.
    static Validator built_in(Limits limits);
    struct Unset {};
    explicit Validator(Unset);
    //! Problems of a parsed document whose serialized size is `size`.
    std::vector<Problem> check(const nlohmann::json& document, std::size_t size) const;
    //! The envelope when `problems` is empty; else throws the matching Error.
    static Envelope accept(nlohmann::json document, const std::vector<Problem>& problems,
                           std::string_view action);

    std::unique_ptr<State> state_;
};

//! A validated envelope. Holds the parsed JSON; accessors read from it.
class Envelope {
public:
    //! Parses and validates with the embedded schema and no contracts; throws
    //! Error(Errc::too_large) or Error(Errc::invalid_envelope) listing all problems.
    static Envelope parse(std::string_view json_text, const Limits& limits = {});
    //! Validates an already parsed document the same way.
    static Envelope from_json(nlohmann::json document, const Limits& limits = {});

    const std::string& id() const;
    const std::string& type() const;
    const std::string& source() const;
    const std::string& subject() const;  //!< the ordering key (aggregate or entity id)
    const std::string& time() const;
    const std::string& datacontenttype() const;
    //! The type split into context, kind, name and version.
    Subject parsed_type() const;
    //! The bounded context, the first token of the type.
    std::string context() const;
    std::optional<std::string> correlation_id() const;
    std::optional<std::string> causation_id() const;
    std::optional<std::string> traceparent() const;
    std::optional<std::string> tracestate() const;
    //! `visibility` when present; internal otherwise.
    Visibility visibility() const;
    //! The `data` member, or nullptr when the event carries `data_base64` instead.
    const nlohmann::json* data() const;

    const nlohmann::json& json() const noexcept { return document_; }
    //! Compact JSON text (the bytes that go into the outbox and onto JetStream).
    std::string to_json() const;

private:
    friend class Validator;
    explicit Envelope(nlohmann::json validated) : document_(std::move(validated)) {}
    nlohmann::json document_;
};

//! Creates a new envelope: id = new UUID v4 unless given, time = now (UTC), specversion
//! "1.0", datacontenttype "application/json". build() validates the result.
class EnvelopeBuilder {
public:
    //! `type` is the versioned name (also the NATS subject), `source` a URI-reference
    //! naming the producer (e.g. "/sea/orders"), `subject` the ordering key.
    EnvelopeBuilder(std::string type, std::string source, std::string subject);

    EnvelopeBuilder& id(std::string value);
    EnvelopeBuilder& time(std::string rfc3339);
    EnvelopeBuilder& data(nlohmann::json value);
    //! Binary payload; replaces `data`. `content_type` becomes datacontenttype.
    EnvelopeBuilder& data_base64(std::string base64, std::string content_type);
    EnvelopeBuilder& dataschema(std::string uri);
    EnvelopeBuilder& correlation_id(std::string value);
    EnvelopeBuilder& causation_id(std::string value);
    EnvelopeBuilder& traceparent(std::string value);
    EnvelopeBuilder& tracestate(std::string value);
    EnvelopeBuilder& visibility(Visibility value);
    //! Any other CloudEvents extension attribute (name: a-z0-9, at most 20 characters).
    EnvelopeBuilder& extension(std::string name, nlohmann::json value);

    //! Validates with `validator` (schema, grammar, size, contracts) and returns the envelope.
    Envelope build(const Validator& validator) const;
    //! Validates with the embedded schema and no contracts.
    Envelope build(const Limits& limits = {}) const;

private:
    nlohmann::json document_;
};

//! The directory holding the repository's schemas: `explicit_dir` if not empty, else
//! $SEAMQ_SCHEMAS_DIR, else the source tree's schemas/ directory compiled in at build time.
std::filesystem::path schemas_dir(const std::filesystem::path& explicit_dir = {});

}  // namespace seamq::envelope
