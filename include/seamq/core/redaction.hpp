#pragma once

#include <string>
#include <string_view>

//! Credentials out of everything sea-mq prints: log lines, /readyz, `sea-mq status`, error
//! messages, `--print-config`. Each function takes free text (a message may hold several
//! URLs, or a URL inside quotes) and returns it with every password replaced by "***";
//! the rest, user names included, stays readable.
namespace seamq {

//! The user info of every `scheme://user:password@host` in `text`: "scheme://user:***@host";
//! user info without a colon (a token, nats://TOKEN@host) becomes "scheme://***@host".
//! Comma-separated lists, IPv6 hosts ([::1]) and URLs embedded in sentences are found. The
//! authority ends at '/', '?', '#', white space, '"', '`', '<' or '>', and its user info at
//! the last '@' in it (as nats.c reads it), so an '@' in a path or query is left alone. For
//! postgres:// and postgresql:// only '/' and white space end it: libpq reads user info up
//! to the '@' before the first '/', so a password may hold '?' or '#' there.
std::string mask_url_credentials(std::string_view text);

//! The value of every `password=` parameter in `text` (also `sslpassword=`, `PGPASSWORD=`:
//! any key ending in "password", any case): libpq key=value connection strings, spaces
//! around '=' and quoted values ('a b', with \' escapes) included, and URL query
//! parameters (postgresql://host/db?password=x&sslmode=require: the value ends at '&').
std::string mask_password_parameters(std::string_view text);

//! Both of the above, repeated until the text stops changing (a masked value can join
//! words into a URL's user info): what every text that may hold a URL or a connection
//! string goes through before it is printed. Masking its result again changes nothing.
std::string mask_credentials(std::string_view text);

}  // namespace seamq
