#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::streams {

//! One field whose desired value differs from the server's.
struct FieldChange {
    std::string field;  //!< e.g. "max_age"
    std::string from;
    std::string to;
};

enum class StreamAction {
    created,    //!< did not exist; created
    updated,    //!< existed; changed in place
    unchanged,  //!< existed with the desired settings
    refused,    //!< a change JetStream cannot make in place; nothing was changed
};
std::string_view to_string(StreamAction action) noexcept;

struct StreamPlan {
    std::string stream;
    StreamAction action = StreamAction::unchanged;
    std::vector<FieldChange> changes;  //!< for updated / refused
    std::string reason;                //!< for refused: why and what to do
};

//! Compares desired settings with the server's; an empty result means unchanged.
std::vector<FieldChange> diff_stream(const nats::StreamConfig& current, const nats::StreamConfig& desired);
//! Why `changes` cannot be applied in place ("" if they can), with what to do instead.
std::string refusal_reason(const std::string& stream, const std::vector<FieldChange>& changes);

//! Makes the server's streams match a StreamsConfig.
class StreamManager {
public:
    explicit StreamManager(nats::JetStream& jetstream) : jetstream_(jetstream) {}

    //! What apply() would do, without changing anything.
    std::vector<StreamPlan> plan(const StreamsConfig& config);
    //! Plans, and if nothing is refused, creates or updates the streams (idempotent: a
    //! second run reports every stream unchanged). If any change is refused, nothing is
    //! applied and the returned plan says which and why.
    std::vector<StreamPlan> apply(const StreamsConfig& config);
    //! Info of the named streams (those of `config`, or every stream on the server when
    //! `names` is empty); a missing stream is skipped and reported in `missing`.
    std::vector<nats::StreamInfo> status(const std::vector<std::string>& names,
                                         std::vector<std::string>* missing = nullptr);

private:
    nats::JetStream& jetstream_;
};

}  // namespace seamq::streams
