#include "pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "seamq/core/error.hpp"

namespace seamq::envelope {

struct Pattern::Code {
    pcre2_code* code = nullptr;
    std::uint32_t groups = 0;
    ~Code() { pcre2_code_free(code); }
};

namespace {

// What one thread needs to match: the match data (offsets of the match and its groups)
// and a JIT stack that may grow to 1 MiB for deeply nested alternations (the URI
// formats). Made once per thread instead of once per match.
struct MatchState {
    pcre2_match_data* data = pcre2_match_data_create(32, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack =
        pcre2_jit_stack_create(std::size_t{32} * 1024, std::size_t{1024} * 1024, nullptr);

    MatchState() {
        if (data == nullptr || context == nullptr || stack == nullptr)
            raise(Errc::internal, "PCRE2 could not allocate its match state");
        pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchState() {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
    MatchState(const MatchState&) = delete;
    MatchState& operator=(const MatchState&) = delete;
};

MatchState& match_state() {
    thread_local MatchState state;
    return state;
}

}  // namespace

Pattern::Pattern(std::string_view source, Case letter_case) {
    // ECMA-262 semantics where PCRE2's defaults differ: '$' matches at the end only,
    // \u escapes as in JavaScript, '.' excludes CR as well as LF.
    std::uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX;
    if (letter_case == Case::insensitive) options |= PCRE2_CASELESS;
    std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> context(
        pcre2_compile_context_create(nullptr), &pcre2_compile_context_free);
    if (!context) raise(Errc::internal, "PCRE2 could not allocate a compile context");
    pcre2_set_newline(context.get(), PCRE2_NEWLINE_ANYCRLF);
    pcre2_set_compile_extra_options(context.get(), PCRE2_EXTRA_ALT_BSUX);

    int error = 0;
    PCRE2_SIZE offset = 0;
    auto code = std::make_shared<Code>();
    code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &error,
                               &offset, context.get());
    if (code->code == nullptr) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        raise(Errc::config, "regular expression /{}/ is not valid at offset {}: {}", source, offset,
              reinterpret_cast<const char*>(message));
    }
    // Without JIT support (an unusual CPU) the interpreter matches the same way, slower.
    (void)pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE);
    pcre2_pattern_info(code->code, PCRE2_INFO_CAPTURECOUNT, &code->groups);
    code_ = std::move(code);
}

int Pattern::match(std::string_view text) const {
    auto& state = match_state();
    return pcre2_match(code_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, state.data,
                       state.context);
}

bool Pattern::search(std::string_view text) const {
    // 0: matched, with more groups than the match data holds. Negative: no match, and
    // also the match limit or an internal error, which must not let a value through.
    return match(text) >= 0;
}

bool Pattern::search(std::string_view text, std::vector<std::string_view>& groups) const {
    groups.clear();
    if (match(text) < 0) return false;
    const auto& state = match_state();
    const PCRE2_SIZE* offsets = pcre2_get_ovector_pointer(state.data);
    const std::uint32_t pairs = pcre2_get_ovector_count(state.data);
    for (std::size_t group = 0; group <= code_->groups; ++group) {
        const std::size_t start = 2 * group;
        if (group >= pairs || offsets[start] == PCRE2_UNSET) {
            groups.emplace_back();
        } else {
            groups.push_back(text.substr(offsets[start], offsets[start + 1] - offsets[start]));
        }
    }
    return true;
}

}  // namespace seamq::envelope
