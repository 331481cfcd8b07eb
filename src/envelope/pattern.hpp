#pragma once

// The regular expressions of JSON Schema `pattern` keywords and of the format checks,
// compiled once with PCRE2 (JIT-compiled where the CPU allows) and matched from any
// thread. libstdc++'s std::regex, used before, took about a third of an envelope's
// validation time and recursed once per input character.
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace seamq::envelope {

//! An ECMA-262 regular expression (JSON Schema's dialect) matched the way ajv matches
//! one with its 'u' flag: by code point, '$' only at the very end, '.' matching neither
//! CR nor LF, \uXXXX and \u{X...} escapes. Input that is not valid UTF-8 never matches.
//! Immutable; copies share the compiled code.
class Pattern {
public:
    enum class Case { sensitive, insensitive };

    //! Compiles `source`. Throws Error(Errc::config) naming the offset of a syntax error.
    explicit Pattern(std::string_view source, Case letter_case = Case::sensitive);

    //! Whether the expression matches somewhere in `text` (JSON Schema semantics: anchor
    //! with ^ and $ to match the whole text). Work per call is bounded by PCRE2's match
    //! limit; input that exceeds it does not match.
    bool search(std::string_view text) const;

    //! search() that also returns what matched, as std::smatch numbers it: groups[0] the
    //! whole match, groups[n] capture group n; a group that took no part in the match is
    //! an empty view with a null data pointer.
    bool search(std::string_view text, std::vector<std::string_view>& groups) const;

private:
    struct Code;
    //! pcre2_match's result on this thread's match data: >= 0 matched.
    int match(std::string_view text) const;

    std::shared_ptr<const Code> code_;
};

}  // namespace seamq::envelope
