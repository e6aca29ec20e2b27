// Database URLs as open_store() accepts them.
#pragma once

#include <string>

namespace lockstep {

// `url` with the libpq option `key`=`value` added, unless the URL already sets
// `key`: as `?key=value` / `&key=value` on a postgresql:// or postgres:// URI,
// as ` key=value` on a key=value connection string. A sqlite: URL is returned
// unchanged (it has no such options).
std::string with_url_option(const std::string& url, const std::string& key, const std::string& value);

}  // namespace lockstep
