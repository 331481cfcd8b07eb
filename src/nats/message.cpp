#include "seamq/nats/message.hpp"

#include <cstdlib>
#include <string>

#include "check.hpp"
#include <fmt/format.h>

#include "seamq/nats/api_reply.hpp"

namespace seamq::nats {

Message::~Message() {
    natsMsg_Destroy(message_);
}

Message& Message::operator=(Message&& other) noexcept {
    if (this != &other) {
        natsMsg_Destroy(message_);
        message_ = std::exchange(other.message_, nullptr);
        connection_ = other.connection_;
        acked_ = other.acked_;
    }
    return *this;
}

std::string_view Message::subject() const {
    const char* value = message_ != nullptr ? natsMsg_GetSubject(message_) : nullptr;
    return value != nullptr ? std::string_view(value) : std::string_view();
}

std::string_view Message::reply() const {
    const char* value = message_ != nullptr ? natsMsg_GetReply(message_) : nullptr;
    return value != nullptr ? std::string_view(value) : std::string_view();
}

std::string_view Message::payload() const {
    if (message_ == nullptr) return {};
    const char* data = natsMsg_GetData(message_);
    const int length = natsMsg_GetDataLength(message_);
    return data != nullptr && length > 0 ? std::string_view(data, static_cast<std::size_t>(length))
                                         : std::string_view();
}

std::optional<std::string> Message::header(std::string_view name) const {
    if (message_ == nullptr) return std::nullopt;
    const char* value = nullptr;
    const std::string key(name);
    if (natsMsgHeader_Get(message_, key.c_str(), &value) != NATS_OK || value == nullptr) return std::nullopt;
    return std::string(value);
}

Headers Message::headers() const {
    Headers result;
    if (message_ == nullptr) return result;
    const char** keys = nullptr;
    int key_count = 0;
    if (natsMsgHeader_Keys(message_, &keys, &key_count) != NATS_OK || keys == nullptr) return result;
    for (int i = 0; i < key_count; ++i) {
        const char** values = nullptr;
        int value_count = 0;
        if (natsMsgHeader_Values(message_, keys[i], &values, &value_count) == NATS_OK && values != nullptr) {
            for (int j = 0; j < value_count; ++j) result.emplace_back(keys[i], values[j]);
            std::free(static_cast<void*>(values));
        }
    }
    std::free(static_cast<void*>(keys));
    return result;
}

std::optional<int> Message::status_code() const {
    if (message_ == nullptr || natsMsg_GetDataLength(message_) > 0) return std::nullopt;
    const auto status = header("Status");
    if (!status) return std::nullopt;
    return parse_status_header(*status);
}

bool Message::is_jetstream() const {
    return reply().starts_with("$JS.ACK.");
}

MessageMetadata Message::metadata() const {
    if (!is_jetstream())
        raise(Errc::invalid_argument,
              "message on subject '{}' has no JetStream metadata (reply subject '{}')", subject(), reply());
    jsMsgMetaData* meta = nullptr;
    detail::check(natsMsg_GetMetaData(&meta, message_),
                  fmt::format("reading metadata of message on '{}'", subject()));
    MessageMetadata result;
    result.stream = meta->Stream != nullptr ? meta->Stream : "";
    result.consumer = meta->Consumer != nullptr ? meta->Consumer : "";
    result.domain = meta->Domain != nullptr ? meta->Domain : "";
    result.stream_sequence = meta->Sequence.Stream;
    result.consumer_sequence = meta->Sequence.Consumer;
    result.num_delivered = meta->NumDelivered;
    result.num_pending = meta->NumPending;
    result.timestamp_ns = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    return result;
}

void Message::send_ack(std::string_view body, bool final_ack, bool wait, std::chrono::milliseconds timeout) {
    if (acked_) return;  // the server ignores a second ack; sending none keeps the wire quiet
    if (!is_jetstream())
        raise(Errc::invalid_argument,
              "cannot acknowledge message on '{}': it was not delivered by a JetStream consumer", subject());
    if (connection_ == nullptr)
        raise(Errc::invalid_argument, "cannot acknowledge message on '{}': no connection attached",
              subject());
    const std::string reply_subject(reply());
    const std::string what = fmt::format("sending '{}' for message on '{}'", body, subject());
    if (wait) {
        natsMsg* response = nullptr;
        const natsStatus status =
            natsConnection_Request(&response, connection_, reply_subject.c_str(), body.data(),
                                   static_cast<int>(body.size()), detail::to_millis(timeout));
        natsMsg_Destroy(response);
        detail::check(status, what);
    } else {
        detail::check(natsConnection_Publish(connection_, reply_subject.c_str(), body.data(),
                                             static_cast<int>(body.size())),
                      what);
    }
    if (final_ack) acked_ = true;
}

void Message::ack() {
    send_ack("+ACK", true, false, {});
}
void Message::ack_sync(std::chrono::milliseconds timeout) {
    send_ack("+ACK", true, true, timeout);
}
void Message::nak() {
    send_ack("-NAK", true, false, {});
}
void Message::nak_with_delay(std::chrono::milliseconds delay) {
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(delay).count();
    send_ack(fmt::format("-NAK {{\"delay\":{}}}", nanos), true, false, {});
}
void Message::in_progress() {
    send_ack("+WPI", false, false, {});
}
void Message::term() {
    send_ack("+TERM", true, false, {});
}

natsMsg* make_native_message(const OutgoingMessage& message) {
    detail::open_library();
    natsMsg* native = nullptr;
    detail::check(natsMsg_Create(&native, message.subject.c_str(), nullptr, message.payload.data(),
                                 static_cast<int>(message.payload.size())),
                  fmt::format("creating message for subject '{}'", message.subject));
    auto set = [&](const std::string& key, const std::string& value, bool add) {
        const natsStatus status = add ? natsMsgHeader_Add(native, key.c_str(), value.c_str())
                                      : natsMsgHeader_Set(native, key.c_str(), value.c_str());
        if (status != NATS_OK) {
            auto error = detail::make_error(
                status, fmt::format("setting header '{}' on message for '{}'", key, message.subject));
            natsMsg_Destroy(native);
            throw error;
        }
    };
    if (!message.message_id.empty()) set(std::string(message_id_header), message.message_id, false);
    if (!message.expected_stream.empty())
        set(std::string(expected_stream_header), message.expected_stream, false);
    for (const auto& [key, value] : message.headers) set(key, value, true);
    return native;
}

}  // namespace seamq::nats
