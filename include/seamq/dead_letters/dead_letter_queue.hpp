#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "seamq/dead_letters/dead_letter.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::dead_letters {

//! Which dead letters an operator command looks at. Empty/zero fields match everything.
struct Filter {
    std::string consumer;  //!< exact consumer name
    //! Original subject: exact, or a NATS pattern with `*` and `>` ("sea.event.>").
    std::string subject;
    std::optional<std::chrono::system_clock::time_point> since;  //!< dead-lettered at or after
    std::optional<std::chrono::system_clock::time_point> until;  //!< dead-lettered before
    std::uint64_t from_sequence = 0;                             //!< DLQ stream sequence, inclusive
    std::uint64_t to_sequence = 0;                               //!< inclusive; 0: up to the last
    std::size_t limit = 0;                                       //!< at most this many; 0: all

    bool matches(const DeadLetter& letter) const;
};

//! True when NATS subject `subject` matches `pattern` (tokens, `*` one token, `>` the rest).
bool subject_matches(std::string_view pattern, std::string_view subject);

//! Where a replay republishes a dead letter that came from `original_stream` on
//! `original_subject`: the subject itself, except for an event imported from another cell
//! (docs/federation.md): an import stream (`<CONTEXT>_IMPORTS`) has no subject of the
//! export copies it holds (`export.<context>.<type>` belongs to the cells' export streams)
//! but one for replays, `import.<context>.>`, so `export.<context>.<rest>` goes back as
//! `import.<context>.<rest>`.
std::string replay_subject(std::string_view original_stream, std::string_view original_subject);

//! What a replay did.
struct ReplayOutcome {
    std::uint64_t dead_letter_sequence = 0;
    std::string message_id;  //!< Nats-Msg-Id of the republished message
    nats::PubAck ack;        //!< from the original stream
    bool removed = false;    //!< the dead letter was deleted from the DLQ stream
    //! Why the delete after the PubAck failed ("" when it did not): the message is
    //! replayed, the dead letter is still there.
    std::string remove_error;
};

//! The dead letters of one context, read and changed through the JetStream API directly
//! (STREAM.MSG.GET with next_by_subj, STREAM.MSG.DELETE): no consumer is created, so an
//! operator command leaves nothing behind on the server.
class DeadLetterQueue {
public:
    //! `stream` empty: the context's DLQ stream by the naming rule (`sea` -> `SEA_DLQ`).
    DeadLetterQueue(nats::JetStream& jetstream, std::string context, std::string stream = {});

    const std::string& stream() const noexcept { return stream_; }
    const std::string& context() const noexcept { return context_; }

    //! Dead letters matching `filter`, in DLQ stream order. Throws seamq::Error(not_found)
    //! when the DLQ stream does not exist.
    std::vector<DeadLetter> list(const Filter& filter);
    //! The dead letter at `sequence`; nullopt when there is none (deleted or never was).
    std::optional<DeadLetter> get(std::uint64_t sequence);

    //! Republishes the original payload to the original subject (`replay_subject`) and stream with the
    //! original headers (the envelope id stays, so the inbox still guards effects already
    //! applied), a new Nats-Msg-Id `<original id>/replay/<dlq sequence>` (the original id
    //! would be swallowed by the stream's duplicate window) and `Seamq-Replay-For:
    //! <consumer>`, so other consumers of the subject ack and skip it. After the PubAck the
    //! dead letter is deleted, so it is not replayed twice; if that delete fails the
    //! replayed message is still published (a second replay gets the same Nats-Msg-Id and,
    //! within the window, is a duplicate; after it, the consumer's inbox skips it), and
    //! the outcome says why in `remove_error`.
    ReplayOutcome replay(const DeadLetter& letter);
    //! Deletes the dead letter at `sequence`; false when it was not there.
    bool remove(std::uint64_t sequence);

private:
    std::optional<DeadLetter> next(std::uint64_t from_sequence, const std::string& subject_filter);

    nats::JetStream& jetstream_;
    std::string context_;
    std::string stream_;
};

}  // namespace seamq::dead_letters
