// What the admin server serves from memory: the console's files and the OpenAPI document,
// embedded at build time by embed_assets.cmake (every file of worker/admin/console/).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lockstep/event.hpp"  // Json

namespace lockstep::admin {

struct EmbeddedFile {
  std::string_view name;  // path relative to worker/admin/console/, e.g. "app.js"
  std::string_view data;
};

const std::vector<EmbeddedFile>& console_files();
const EmbeddedFile* find_console_file(std::string_view name);
// Content-Type by the name's extension (application/octet-stream when unknown).
std::string content_type_of(std::string_view name);

std::string_view openapi_yaml();
// openapi.yaml as JSON (GET /api/v1/openapi.json), converted once.
const Json& openapi_json();

}  // namespace lockstep::admin
