#include "seamq/nats/jetstream.hpp"

#include <atomic>
#include <mutex>

#include "check.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/api_reply.hpp"

namespace seamq::nats {

std::string_view to_string(StorageType value) noexcept {
    return value == StorageType::file ? "file" : "memory";
}

std::string_view to_string(RetentionPolicy value) noexcept {
    switch (value) {
        case RetentionPolicy::limits: return "limits";
        case RetentionPolicy::interest: return "interest";
        case RetentionPolicy::work_queue: return "workqueue";
    }
    return "unknown";
}

std::string_view to_string(DiscardPolicy value) noexcept {
    return value == DiscardPolicy::old_messages ? "old" : "new";
}

//! What nats.c's async publish callback sees (closure = raw pointer, kept alive by the
//! JetStream that owns it; see ~JetStream for why that is safe).
struct JetStream::State {
    PublishResultHandler handler;
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> failed{0};
    //! nats.c 3.4.1 crashes in js_PublishAsyncGetPendingList before the first async publish.
    std::atomic<bool> async_used{false};
};

namespace {

using std::chrono::nanoseconds;

constexpr jsErrCode no_js_error = static_cast<jsErrCode>(0);

std::string string_or_empty(const char* value) {
    return value != nullptr ? value : "";
}

std::string header_of(natsMsg* message, const char* key) {
    const char* value = nullptr;
    if (message == nullptr || natsMsgHeader_Get(message, key, &value) != NATS_OK || value == nullptr)
        return "";
    return value;
}

void on_publish_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* closure) {
    auto& state = *static_cast<JetStream::State*>(closure);
    AsyncPublishResult result;
    result.message_id = header_of(message, "Nats-Msg-Id");
    result.subject = string_or_empty(natsMsg_GetSubject(message));
    if (ack != nullptr) {
        result.ack =
            PubAck{string_or_empty(ack->Stream), ack->Sequence, ack->Duplicate, string_or_empty(ack->Domain)};
        ++state.acked;
        if (ack->Duplicate) ++state.duplicates;
    } else {
        result.status = error != nullptr ? static_cast<int>(error->Err) : static_cast<int>(NATS_ERR);
        result.js_error_code = error != nullptr ? detail::error_code_of(error->ErrCode) : 0;
        result.error =
            error != nullptr && error->ErrText != nullptr ? error->ErrText : "unknown publish error";
        result.kind = classify(result.status, result.js_error_code);
        ++state.failed;
    }
    if (state.handler) {
        try {
            state.handler(result);
        } catch (...) {
            // must not unwind into nats.c's reply thread
        }
    }
    natsMsg_Destroy(message);  // with an AckHandler, the message is ours to destroy
}

// --- conversions between sea-mq and nats.c types ----------------------------------

ClusterInfo to_cluster(const jsClusterInfo& native) {
    ClusterInfo cluster;
    cluster.name = string_or_empty(native.Name);
    cluster.leader = string_or_empty(native.Leader);
    for (int i = 0; i < native.ReplicasLen; ++i) {
        const jsPeerInfo* peer = native.Replicas[i];
        if (peer == nullptr) continue;
        cluster.replicas.push_back(PeerInfo{string_or_empty(peer->Name), peer->Current, peer->Offline,
                                            nanoseconds(peer->Active), peer->Lag});
    }
    return cluster;
}

StreamConfig to_stream_config(const jsStreamConfig& native) {
    StreamConfig config;
    config.name = string_or_empty(native.Name);
    config.description = string_or_empty(native.Description);
    for (int i = 0; i < native.SubjectsLen; ++i)
        config.subjects.emplace_back(string_or_empty(native.Subjects[i]));
    config.retention = native.Retention == js_WorkQueuePolicy  ? RetentionPolicy::work_queue
                       : native.Retention == js_InterestPolicy ? RetentionPolicy::interest
                                                               : RetentionPolicy::limits;
    config.storage = native.Storage == js_MemoryStorage ? StorageType::memory : StorageType::file;
    config.replicas = static_cast<int>(native.Replicas);
    config.max_age = nanoseconds(native.MaxAge);
    config.max_bytes = native.MaxBytes;
    config.max_messages = native.MaxMsgs;
    config.max_messages_per_subject = native.MaxMsgsPerSubject;
    config.max_message_size = native.MaxMsgSize;
    config.max_consumers = native.MaxConsumers;
    config.discard =
        native.Discard == js_DiscardNew ? DiscardPolicy::new_messages : DiscardPolicy::old_messages;
    config.duplicate_window = nanoseconds(native.Duplicates);
    config.deny_delete = native.DenyDelete;
    config.deny_purge = native.DenyPurge;
    config.allow_rollup = native.AllowRollup;
    for (int i = 0; i < native.SourcesLen; ++i) {
        const jsStreamSource* source = native.Sources[i];
        if (source == nullptr) continue;
        config.sources.push_back(StreamSource{
            string_or_empty(source->Name),
            source->External != nullptr ? string_or_empty(source->External->APIPrefix) : std::string(),
            string_or_empty(source->FilterSubject)});
    }
    return config;
}

StreamInfo to_stream_info(const jsStreamInfo& native) {
    StreamInfo info;
    if (native.Config != nullptr) info.config = to_stream_config(*native.Config);
    info.created_ns = native.Created;
    info.state.messages = native.State.Msgs;
    info.state.bytes = native.State.Bytes;
    info.state.first_sequence = native.State.FirstSeq;
    info.state.last_sequence = native.State.LastSeq;
    info.state.first_time_ns = native.State.FirstTime;
    info.state.last_time_ns = native.State.LastTime;
    info.state.consumers = native.State.Consumers;
    info.state.subjects = native.State.NumSubjects;
    info.state.deleted = native.State.NumDeleted;
    if (native.Cluster != nullptr) info.cluster = to_cluster(*native.Cluster);
    for (int i = 0; i < native.SourcesLen; ++i) {
        const jsStreamSourceInfo* source = native.Sources[i];
        if (source == nullptr) continue;
        info.sources.push_back(StreamSourceInfo{
            string_or_empty(source->Name),
            source->External != nullptr ? string_or_empty(source->External->APIPrefix) : std::string(),
            source->Lag, nanoseconds(source->Active)});
    }
    return info;
}

//! A jsStreamConfig pointing into `config` (which must outlive it).
struct NativeStreamConfig {
    explicit NativeStreamConfig(const StreamConfig& config) {
        jsStreamConfig_Init(&native);
        for (const auto& subject : config.subjects) subjects.push_back(subject.c_str());
        native.Name = config.name.c_str();
        native.Description = config.description.empty() ? nullptr : config.description.c_str();
        native.Subjects = subjects.data();
        native.SubjectsLen = static_cast<int>(subjects.size());
        native.Retention = config.retention == RetentionPolicy::work_queue ? js_WorkQueuePolicy
                           : config.retention == RetentionPolicy::interest ? js_InterestPolicy
                                                                           : js_LimitsPolicy;
        native.Storage = config.storage == StorageType::memory ? js_MemoryStorage : js_FileStorage;
        native.Replicas = config.replicas;
        native.MaxAge = config.max_age.count();
        native.MaxBytes = config.max_bytes;
        native.MaxMsgs = config.max_messages;
        native.MaxMsgsPerSubject = config.max_messages_per_subject;
        native.MaxMsgSize = config.max_message_size;
        native.MaxConsumers = config.max_consumers;
        native.Discard = config.discard == DiscardPolicy::new_messages ? js_DiscardNew : js_DiscardOld;
        native.Duplicates = config.duplicate_window.count();
        native.DenyDelete = config.deny_delete;
        native.DenyPurge = config.deny_purge;
        native.AllowRollup = config.allow_rollup;
        // Reserved first: the pointers below must stay valid.
        sources.resize(config.sources.size());
        externals.resize(config.sources.size());
        for (std::size_t i = 0; i < config.sources.size(); ++i) {
            const auto& source = config.sources[i];
            jsStreamSource_Init(&sources[i]);
            sources[i].Name = source.name.c_str();
            if (!source.filter_subject.empty()) sources[i].FilterSubject = source.filter_subject.c_str();
            if (!source.api_prefix.empty()) {
                jsExternalStream_Init(&externals[i]);
                externals[i].APIPrefix = source.api_prefix.c_str();
                // nats.c 3.4.1 marshals DeliverPrefix unconditionally (strlen of NULL: a
                // crash); empty is what the server stores when none is given.
                externals[i].DeliverPrefix = "";
                sources[i].External = &externals[i];
            }
            source_pointers.push_back(&sources[i]);
        }
        native.Sources = source_pointers.empty() ? nullptr : source_pointers.data();
        native.SourcesLen = static_cast<int>(source_pointers.size());
    }
    jsStreamConfig native{};
    std::vector<const char*> subjects;
    std::vector<jsStreamSource> sources;
    std::vector<jsExternalStream> externals;
    std::vector<jsStreamSource*> source_pointers;
};

ConsumerConfig to_consumer_config(const jsConsumerConfig& native) {
    ConsumerConfig config;
    config.durable_name = string_or_empty(native.Durable);
    if (config.durable_name.empty()) config.durable_name = string_or_empty(native.Name);
    config.description = string_or_empty(native.Description);
    config.filter_subject = string_or_empty(native.FilterSubject);
    switch (native.DeliverPolicy) {
        case js_DeliverLast: config.deliver_policy = DeliverPolicy::last; break;
        case js_DeliverNew: config.deliver_policy = DeliverPolicy::new_only; break;
        case js_DeliverByStartSequence: config.deliver_policy = DeliverPolicy::by_start_sequence; break;
        case js_DeliverByStartTime: config.deliver_policy = DeliverPolicy::by_start_time; break;
        case js_DeliverLastPerSubject: config.deliver_policy = DeliverPolicy::last_per_subject; break;
        default: config.deliver_policy = DeliverPolicy::all; break;
    }
    config.start_sequence = native.OptStartSeq;
    config.ack_policy = native.AckPolicy == js_AckNone  ? AckPolicy::none
                        : native.AckPolicy == js_AckAll ? AckPolicy::all
                                                        : AckPolicy::explicit_ack;
    config.ack_wait = nanoseconds(native.AckWait);
    config.max_deliver = native.MaxDeliver;
    for (int i = 0; i < native.BackOffLen; ++i) config.backoff.emplace_back(native.BackOff[i]);
    config.max_ack_pending = native.MaxAckPending;
    config.max_waiting = native.MaxWaiting;
    config.max_request_batch = native.MaxRequestBatch;
    config.replicas = static_cast<int>(native.Replicas);
    config.memory_storage = native.MemoryStorage;
    config.deliver_subject = string_or_empty(native.DeliverSubject);
    config.deliver_group = string_or_empty(native.DeliverGroup);
    return config;
}

ConsumerInfo to_consumer_info(const jsConsumerInfo& native) {
    ConsumerInfo info;
    info.stream = string_or_empty(native.Stream);
    info.name = string_or_empty(native.Name);
    if (native.Config != nullptr) info.config = to_consumer_config(*native.Config);
    info.delivered = SequenceInfo{native.Delivered.Consumer, native.Delivered.Stream};
    info.ack_floor = SequenceInfo{native.AckFloor.Consumer, native.AckFloor.Stream};
    info.num_ack_pending = native.NumAckPending;
    info.num_redelivered = native.NumRedelivered;
    info.num_waiting = native.NumWaiting;
    info.num_pending = native.NumPending;
    if (native.Cluster != nullptr) info.cluster = to_cluster(*native.Cluster);
    return info;
}

struct NativeConsumerConfig {
    explicit NativeConsumerConfig(const ConsumerConfig& config) {
        jsConsumerConfig_Init(&native);
        native.Durable = config.durable_name.c_str();
        native.Description = config.description.empty() ? nullptr : config.description.c_str();
        native.FilterSubject = config.filter_subject.empty() ? nullptr : config.filter_subject.c_str();
        switch (config.deliver_policy) {
            case DeliverPolicy::all: native.DeliverPolicy = js_DeliverAll; break;
            case DeliverPolicy::last: native.DeliverPolicy = js_DeliverLast; break;
            case DeliverPolicy::new_only: native.DeliverPolicy = js_DeliverNew; break;
            case DeliverPolicy::by_start_sequence: native.DeliverPolicy = js_DeliverByStartSequence; break;
            case DeliverPolicy::by_start_time: native.DeliverPolicy = js_DeliverByStartTime; break;
            case DeliverPolicy::last_per_subject: native.DeliverPolicy = js_DeliverLastPerSubject; break;
        }
        native.OptStartSeq = config.start_sequence;
        native.AckPolicy = config.ack_policy == AckPolicy::none  ? js_AckNone
                           : config.ack_policy == AckPolicy::all ? js_AckAll
                                                                 : js_AckExplicit;
        native.AckWait = config.ack_wait.count();
        native.MaxDeliver = config.max_deliver;
        for (const auto& delay : config.backoff) backoff.push_back(delay.count());
        native.BackOff = backoff.empty() ? nullptr : backoff.data();
        native.BackOffLen = static_cast<int>(backoff.size());
        native.MaxAckPending = config.max_ack_pending;
        native.MaxWaiting = config.max_waiting;
        native.MaxRequestBatch = config.max_request_batch;
        native.Replicas = config.replicas;
        native.MemoryStorage = config.memory_storage;
        native.DeliverSubject = config.deliver_subject.empty() ? nullptr : config.deliver_subject.c_str();
        native.DeliverGroup = config.deliver_group.empty() ? nullptr : config.deliver_group.c_str();
    }
    jsConsumerConfig native{};
    std::vector<std::int64_t> backoff;
};

}  // namespace

// --- JetStream ----------------------------------------------------------------------

JetStream::JetStream(Connection& connection, JetStreamOptions options)
    : connection_(connection), options_(std::move(options)), state_(std::make_shared<State>()) {
    if (options_.max_pending_async <= 0)
        raise(Errc::invalid_argument,
              "max_pending_async must be positive (got {}): unlimited pending publishes "
              "would grow memory without bound",
              options_.max_pending_async);
    state_->handler = options_.on_publish_result;
    jsOptions native;
    detail::check(jsOptions_Init(&native), "initialising JetStream options");
    native.Domain = options_.domain.empty() ? nullptr : options_.domain.c_str();
    native.Wait = detail::to_millis(options_.api_timeout);
    native.PublishAsync.MaxPending = options_.max_pending_async;
    native.PublishAsync.AckHandler = on_publish_ack;
    native.PublishAsync.AckHandlerClosure = state_.get();
    native.PublishAsync.StallWait = detail::to_millis(options_.stall_wait);
    detail::check(natsConnection_JetStream(&context_, connection_.native(), &native),
                  "creating JetStream context");
}

JetStream::~JetStream() {
    if (context_ == nullptr) return;
    // 1. Take back every pending message: later replies then find nothing and call no
    //    handler. 2. Wait for the pending count to reach 0: nats.c decrements it only after
    //    a running handler returned. Only then may the State die.
    if (!state_->async_used) {
        jsCtx_Destroy(context_);
        return;
    }
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, context_) == NATS_OK) natsMsgList_Destroy(&pending);
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 5000;
    if (js_PublishAsyncComplete(context_, &wait) != NATS_OK) {
        // A handler is stuck; keep its state alive rather than free it under its feet.
        // NOLINTNEXTLINE(bugprone-unhandled-exception-at-new): a deliberate leak; failing it ends the process
        static_cast<void>(new std::shared_ptr<State>(state_));
    }
    jsCtx_Destroy(context_);
}

PubAck JetStream::publish(const OutgoingMessage& message, std::chrono::milliseconds timeout) {
    natsMsg* native = make_native_message(message);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = detail::to_millis(timeout.count() > 0 ? timeout : options_.publish_timeout);
    jsPubAck* ack = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_PublishMsg(&ack, context_, native, &options, &error_code);
    natsMsg_Destroy(native);
    detail::check(status,
                  fmt::format("publishing to JetStream subject '{}' (Nats-Msg-Id '{}')", message.subject,
                              message.message_id),
                  detail::error_code_of(error_code));
    PubAck result{string_or_empty(ack->Stream), ack->Sequence, ack->Duplicate, string_or_empty(ack->Domain)};
    jsPubAck_Destroy(ack);
    return result;
}

void JetStream::publish_async(const OutgoingMessage& message) {
    natsMsg* native = make_native_message(message);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    // Without MaxWait a lost ack would stay pending forever.
    options.MaxWait = detail::to_millis(options_.publish_timeout);
    state_->async_used = true;
    const natsStatus status = js_PublishMsgAsync(context_, &native, &options);
    natsMsg_Destroy(native);  // no-op when nats.c took ownership (pointer cleared)
    detail::check(status, fmt::format("publishing asynchronously to '{}' (Nats-Msg-Id '{}')", message.subject,
                                      message.message_id));
    ++state_->published;
}

bool JetStream::wait_async_complete(std::chrono::milliseconds timeout) {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = detail::to_millis(timeout);
    const natsStatus status = js_PublishAsyncComplete(context_, &options);
    if (status == NATS_TIMEOUT) return false;
    detail::check(status, "waiting for async publish acks");
    return true;
}

std::int64_t JetStream::pending_async() const {
    const auto published = state_->published.load();
    const auto done = state_->acked.load() + state_->failed.load();
    return published > done ? static_cast<std::int64_t>(published - done) : 0;
}

std::vector<OutgoingMessage> JetStream::take_pending_async_messages() {
    std::vector<OutgoingMessage> messages;
    if (!state_->async_used) return messages;
    natsMsgList pending{};
    const natsStatus status = js_PublishAsyncGetPendingList(&pending, context_);
    if (status == NATS_NOT_FOUND) return messages;
    detail::check(status, "taking pending async publishes");
    for (int i = 0; i < pending.Count; ++i) {
        natsMsg* native = pending.Msgs[i];
        if (native == nullptr) continue;
        Message view(native, nullptr);
        OutgoingMessage message;
        message.subject = std::string(view.subject());
        message.payload = view.payload_string();
        for (auto& [key, value] : view.headers()) {
            if (key == message_id_header)
                message.message_id = value;
            else if (key == expected_stream_header)
                message.expected_stream = value;
            else
                message.headers.emplace_back(std::move(key), std::move(value));
        }
        pending.Msgs[i] = view.release();  // natsMsgList_Destroy frees it
        messages.push_back(std::move(message));
        ++state_->failed;  // it will never be reported: count it as not acknowledged
    }
    natsMsgList_Destroy(&pending);
    return messages;
}

AsyncPublishCounters JetStream::async_counters() const {
    return AsyncPublishCounters{state_->published.load(), state_->acked.load(), state_->duplicates.load(),
                                state_->failed.load()};
}

StreamInfo JetStream::add_stream(const StreamConfig& config) {
    NativeStreamConfig native(config);
    jsStreamInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    detail::check(js_AddStream(&info, context_, &native.native, nullptr, &error_code),
                  fmt::format("creating stream '{}'", config.name), detail::error_code_of(error_code));
    StreamInfo result = to_stream_info(*info);
    jsStreamInfo_Destroy(info);
    return result;
}

StreamInfo JetStream::update_stream(const StreamConfig& config) {
    NativeStreamConfig native(config);
    jsStreamInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    detail::check(js_UpdateStream(&info, context_, &native.native, nullptr, &error_code),
                  fmt::format("updating stream '{}'", config.name), detail::error_code_of(error_code));
    StreamInfo result = to_stream_info(*info);
    jsStreamInfo_Destroy(info);
    return result;
}

std::optional<StreamInfo> JetStream::stream_info(const std::string& name) {
    jsStreamInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_GetStreamInfo(&info, context_, name.c_str(), nullptr, &error_code);
    if (status == NATS_NOT_FOUND) return std::nullopt;
    detail::check(status, fmt::format("reading info of stream '{}'", name),
                  detail::error_code_of(error_code));
    StreamInfo result = to_stream_info(*info);
    jsStreamInfo_Destroy(info);
    return result;
}

std::optional<StreamSourcesReply> JetStream::stream_sources(const std::string& name,
                                                            std::chrono::milliseconds timeout) {
    const auto what = fmt::format("reading the sources of stream '{}'", name);
    Message reply = connection_.request(fmt::format("{}.STREAM.INFO.{}", api_prefix(), name), "",
                                        timeout.count() > 0 ? timeout : options_.api_timeout);
    return parse_stream_sources_reply(reply.payload(), what);
}

bool JetStream::delete_stream(const std::string& name) {
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_DeleteStream(context_, name.c_str(), nullptr, &error_code);
    if (status == NATS_NOT_FOUND) return false;
    detail::check(status, fmt::format("deleting stream '{}'", name), detail::error_code_of(error_code));
    return true;
}

void JetStream::purge_stream(const std::string& name) {
    jsErrCode error_code = no_js_error;
    detail::check(js_PurgeStream(context_, name.c_str(), nullptr, &error_code),
                  fmt::format("purging stream '{}'", name), detail::error_code_of(error_code));
}

std::optional<Message> JetStream::get_message(const std::string& stream, std::uint64_t sequence) {
    natsMsg* native = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_GetMsg(&native, context_, stream.c_str(), sequence, nullptr, &error_code);
    if (status == NATS_NOT_FOUND) return std::nullopt;
    detail::check(status, fmt::format("reading message {} of stream '{}'", sequence, stream),
                  detail::error_code_of(error_code));
    return Message(native, nullptr);
}

std::vector<std::string> JetStream::stream_names() {
    jsStreamNamesList* list = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_StreamNames(&list, context_, nullptr, &error_code);
    std::vector<std::string> names;
    if (status == NATS_NOT_FOUND) return names;  // nats.c reports "no streams" this way
    detail::check(status, "listing streams", detail::error_code_of(error_code));
    for (int i = 0; i < list->Count; ++i) names.emplace_back(string_or_empty(list->List[i]));
    jsStreamNamesList_Destroy(list);
    return names;
}

std::string JetStream::api_prefix() const {
    return options_.domain.empty() ? std::string("$JS.API") : fmt::format("$JS.{}.API", options_.domain);
}

std::optional<std::string> JetStream::stream_for_subject(const std::string& subject) {
    // nats.c 3.4.1 has no subject filter for stream names: ask the API directly.
    const nlohmann::json request = {{"subject", subject}};
    Message reply = connection_.request(api_prefix() + ".STREAM.NAMES", request.dump(), options_.api_timeout);
    return parse_stream_names_reply(reply.payload(),
                                    fmt::format("finding the stream for subject '{}'", subject));
}

ConsumerInfo JetStream::add_consumer(const std::string& stream, const ConsumerConfig& config) {
    if (config.durable_name.empty())
        raise(Errc::invalid_argument,
              "consumer on stream '{}' needs a durable name: sea-mq manages durable consumers only", stream);
    NativeConsumerConfig native(config);
    jsConsumerInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    detail::check(js_AddConsumer(&info, context_, stream.c_str(), &native.native, nullptr, &error_code),
                  fmt::format("creating consumer '{}' on stream '{}'", config.durable_name, stream),
                  detail::error_code_of(error_code));
    ConsumerInfo result = to_consumer_info(*info);
    jsConsumerInfo_Destroy(info);
    return result;
}

ConsumerInfo JetStream::update_consumer(const std::string& stream, const ConsumerConfig& config) {
    NativeConsumerConfig native(config);
    jsConsumerInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    detail::check(js_UpdateConsumer(&info, context_, stream.c_str(), &native.native, nullptr, &error_code),
                  fmt::format("updating consumer '{}' on stream '{}'", config.durable_name, stream),
                  detail::error_code_of(error_code));
    ConsumerInfo result = to_consumer_info(*info);
    jsConsumerInfo_Destroy(info);
    return result;
}

std::optional<ConsumerInfo> JetStream::consumer_info(const std::string& stream, const std::string& consumer) {
    jsConsumerInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status =
        js_GetConsumerInfo(&info, context_, stream.c_str(), consumer.c_str(), nullptr, &error_code);
    if (status == NATS_NOT_FOUND) return std::nullopt;
    detail::check(status, fmt::format("reading info of consumer '{}' on stream '{}'", consumer, stream),
                  detail::error_code_of(error_code));
    ConsumerInfo result = to_consumer_info(*info);
    jsConsumerInfo_Destroy(info);
    return result;
}

bool JetStream::delete_consumer(const std::string& stream, const std::string& consumer) {
    jsErrCode error_code = no_js_error;
    const natsStatus status =
        js_DeleteConsumer(context_, stream.c_str(), consumer.c_str(), nullptr, &error_code);
    if (status == NATS_NOT_FOUND) return false;
    detail::check(status, fmt::format("deleting consumer '{}' on stream '{}'", consumer, stream),
                  detail::error_code_of(error_code));
    return true;
}

std::vector<std::string> JetStream::consumer_names(const std::string& stream) {
    jsConsumerNamesList* list = nullptr;
    jsErrCode error_code = no_js_error;
    const natsStatus status = js_ConsumerNames(&list, context_, stream.c_str(), nullptr, &error_code);
    std::vector<std::string> names;
    if (status == NATS_NOT_FOUND && detail::error_code_of(error_code) != JSStreamNotFoundErr) return names;
    detail::check(status, fmt::format("listing consumers of stream '{}'", stream),
                  detail::error_code_of(error_code));
    for (int i = 0; i < list->Count; ++i) names.emplace_back(string_or_empty(list->List[i]));
    jsConsumerNamesList_Destroy(list);
    return names;
}

AccountInfo JetStream::account_info() {
    jsAccountInfo* info = nullptr;
    jsErrCode error_code = no_js_error;
    detail::check(js_GetAccountInfo(&info, context_, nullptr, &error_code), "reading JetStream account info",
                  detail::error_code_of(error_code));
    AccountInfo result;
    result.memory = info->Memory;
    result.store = info->Store;
    result.streams = info->Streams;
    result.consumers = info->Consumers;
    result.domain = string_or_empty(info->Domain);
    result.max_memory = info->Limits.MaxMemory;
    result.max_store = info->Limits.MaxStore;
    result.max_streams = info->Limits.MaxStreams;
    result.max_consumers = info->Limits.MaxConsumers;
    jsAccountInfo_Destroy(info);
    return result;
}

}  // namespace seamq::nats
