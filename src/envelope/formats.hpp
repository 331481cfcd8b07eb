#pragma once

// Format checks of the envelope's string attributes, ported from ajv-formats 3 ("full"
// mode), which is what the CloudEvents SDK and the agreement test's independent validator
// use, so that a C++ verdict and an ajv verdict agree.
#include <string_view>

namespace seamq::envelope::formats {

//! RFC 3339 date-time with a required time zone; days per month, leap years, leap seconds.
bool is_date_time(std::string_view text);
//! RFC 3986 URI-reference.
bool is_uri_reference(std::string_view text);
//! RFC 3986 absolute URI (with a scheme and a '/' or ':' after it).
bool is_uri(std::string_view text);
//! RFC 4648 base64 with padding (length a multiple of 4, '=' only at the end).
bool is_base64(std::string_view text);

}  // namespace seamq::envelope::formats
