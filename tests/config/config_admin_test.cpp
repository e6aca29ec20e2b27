// The admin section (docs/configuration.md, "Admin tokens"): where the admin
// API listens, its named tokens, their secret references, the errors naming
// the key at fault, and that no token value is ever printed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "lockstep/config.hpp"
#include "lockstep/config_keys.hpp"
#include "lockstep/test/support.hpp"

namespace lockstep {
namespace {

const std::string kMachines = "machines:\n  thing:\n    transitions:\n      create: { from: [new], to: open }\n";
const std::string kAlice = "alice-token-0123456789";
const std::string kBob = "bob-token-9876543210";

std::string admin(const std::string& body) { return kMachines + "admin:\n" + body; }

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Parses and expects a ConfigError for `key`, naming it, without any token value in it.
std::string expect_error(const std::string& yaml, const std::string& key) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.key(), key) << what;
    EXPECT_EQ(what.rfind("config: " + key + ": ", 0), 0u) << what;
    EXPECT_EQ(what.find("token-0123"), std::string::npos) << what;
    EXPECT_EQ(what.find("short-secret"), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "expected ConfigError for " << key << " from:\n" << yaml;
  return "";
}

TEST(ConfigAdmin, OffByDefault) {
  const Config c = parse_config(kMachines, "test.yaml");
  EXPECT_EQ(c.admin.listen, "");
  EXPECT_TRUE(c.admin.tokens.empty());
  EXPECT_EQ(parse_config(admin("  listen: ~\n"), "test.yaml").admin.listen, "");
}

TEST(ConfigAdmin, TokensAndListenForms) {
  const Config c = parse_config(admin("  listen: 9465\n  tokens:\n    bob: { role: read, token: " + kBob +
                                      " }\n    alice:\n      role: write\n      token: \"" + kAlice + "\"\n"),
                                "test.yaml");
  EXPECT_EQ(c.admin.listen, "127.0.0.1:9465") << "a bare port binds the loopback address";
  ASSERT_EQ(c.admin.tokens.size(), 2u);
  EXPECT_EQ(c.admin.tokens[0].name, "alice") << "sorted by name";
  EXPECT_EQ(c.admin.tokens[0].role, "write");
  EXPECT_EQ(c.admin.tokens[0].token, kAlice);
  EXPECT_EQ(c.admin.tokens[1].name, "bob");
  EXPECT_EQ(c.admin.tokens[1].role, "read");
  const std::string tokens = "  tokens: { alice: { role: read, token: " + kAlice + " } }\n";
  for (const auto& [given, normalised] : std::map<std::string, std::string>{
           {"0.0.0.0:9465", "0.0.0.0:9465"}, {"\"[::1]:9465\"", "[::1]:9465"}, {"\"0\"", "127.0.0.1:0"},
           {"admin.local:80", "admin.local:80"}}) {
    EXPECT_EQ(parse_config(admin("  listen: " + given + "\n" + tokens), "test.yaml").admin.listen, normalised);
  }
  for (const std::string bad : {"65536", "host", "host:", ":9465", "a b:1", "[::1]"}) {
    const auto what = expect_error(admin("  listen: \"" + bad + "\"\n" + tokens), "admin.listen");
    EXPECT_NE(what.find("host:port or a port"), std::string::npos) << what;
  }
}

TEST(ConfigAdmin, ErrorsNameTheKey) {
  const auto listen = "  listen: 9465\n";
  EXPECT_NE(expect_error(admin(listen), "admin.tokens").find("at least one token"), std::string::npos);
  expect_error(admin(std::string(listen) + "  tokens: {}\n"), "admin.tokens");
  const auto role = expect_error(admin("  tokens: { alice: { role: admin, token: " + kAlice + " } }\n"),
                                 "admin.tokens.alice.role");
  EXPECT_NE(role.find("must be read or write (got \"admin\")"), std::string::npos) << role;
  expect_error(admin("  tokens: { alice: { token: " + kAlice + " } }\n"), "admin.tokens.alice.role");
  const auto short_one =
      expect_error(admin("  tokens: { alice: { role: read, token: short-secret } }\n"), "admin.tokens.alice.token");
  EXPECT_NE(short_one.find("at least 16 characters"), std::string::npos) << short_one;
  expect_error(admin("  tokens: { alice: { role: read } }\n"), "admin.tokens.alice.token");
  expect_error(admin("  tokens: { alice: { role: read, token: [" + kAlice + "] } }\n"), "admin.tokens.alice.token");
  expect_error(admin("  tokens: { alice: " + kAlice + " }\n"), "admin.tokens.alice");
  expect_error(admin("  tokens: { alice: { role: read, token: " + kAlice + ", note: x } }\n"),
               "admin.tokens.alice.note");
  expect_error(admin("  tokens: { \"al ice\": { role: read, token: " + kAlice + " } }\n"), "admin.tokens");
  const auto same = expect_error(admin("  tokens:\n    alice: { role: read, token: " + kAlice +
                                       " }\n    bob: { role: write, token: " + kAlice + " }\n"),
                                 "admin.tokens.bob.token");
  EXPECT_NE(same.find("admin.tokens.alice.token"), std::string::npos) << same;
  expect_error(admin("  tokens: [alice]\n"), "admin.tokens");
  expect_error(admin("  port: 9465\n"), "admin.port");
}

TEST(ConfigAdmin, SecretReferencesEnvironmentAndFlag) {
  const test::TempDir dir;
  const std::string secret = dir.path + "/bob.token";
  std::ofstream(secret) << kBob << "\n";
  const std::string path = dir.path + "/c.yaml";
  std::ofstream(path) << admin("  tokens:\n    alice: { role: write, token: \"${env:ALICE_TOKEN}\" }\n"
                               "    bob: { role: read, token: \"${file:" + secret + "}\" }\n");
  const auto env = env_of({{"ALICE_TOKEN", kAlice}, {"LOCKSTEP_ADMIN_LISTEN", "9470"}});
  const TracedConfig t = load_config_traced(path, env);
  EXPECT_EQ(t.config.admin.tokens.at(0).token, kAlice);
  EXPECT_EQ(t.config.admin.tokens.at(1).token, kBob) << "one trailing newline dropped";
  EXPECT_EQ(t.config.admin.listen, "127.0.0.1:9470");
  EXPECT_EQ(to_string(t.sources.at("admin.listen")), "environment LOCKSTEP_ADMIN_LISTEN");
  EXPECT_EQ(to_string(t.sources.at("admin.tokens")),
            "file " + path + ", with ${env:ALICE_TOKEN}, ${file:" + secret + "}");

  ConfigOverrides flags;
  flags.admin_listen = "[::1]:9471";
  EXPECT_EQ(load_config(path, env, flags).admin.listen, "[::1]:9471") << "the flag wins over the environment";

  // A reference that cannot be resolved names the token's key; a short secret
  // from a reference is refused like one written in the file.
  try {
    load_config(path, env_of({}));
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "admin.tokens.alice.token") << e.what();
    EXPECT_NE(std::string(e.what()).find("ALICE_TOKEN"), std::string::npos) << e.what();
  }
  try {
    load_config(path, env_of({{"ALICE_TOKEN", "short-secret"}}));
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "admin.tokens.alice.token") << e.what();
    EXPECT_EQ(std::string(e.what()).find("short-secret"), std::string::npos) << e.what();
  }
  try {
    load_config(path, env_of({{"ALICE_TOKEN", kAlice}, {"LOCKSTEP_ADMIN_LISTEN", "nope"}}));
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "admin.listen") << e.what();
    EXPECT_NE(std::string(e.what()).find("LOCKSTEP_ADMIN_LISTEN (admin.listen)"), std::string::npos) << e.what();
  }
}

TEST(ConfigAdmin, ShowMasksTokensButKeepsNamesAndRoles) {
  const test::TempDir dir;
  const std::string path = dir.path + "/c.yaml";
  std::ofstream(path) << admin("  listen: 9465\n  tokens:\n    alice: { role: write, token: " + kAlice +
                               " }\n    bob: { role: read, token: \"${env:BOB}\" }\n");
  const TracedConfig t = load_config_traced(path, env_of({{"BOB", kBob}}));
  const std::string shown = render_config_show(t);
  EXPECT_EQ(shown.find(kAlice), std::string::npos) << shown;
  EXPECT_EQ(shown.find(kBob), std::string::npos) << shown;
  EXPECT_NE(shown.find("{alice: {role: write, token: ***}, bob: {role: read, token: ***}}"), std::string::npos)
      << shown;
  EXPECT_NE(shown.find("127.0.0.1:9465"), std::string::npos) << shown;
  EXPECT_EQ(default_text(*find_config_key("admin.tokens")), "{}");
  EXPECT_EQ(default_text(*find_config_key("admin.listen")), "\"\"");
  const std::string keys = config_keys_text();
  EXPECT_NE(keys.find("admin.listen (string"), std::string::npos) << keys;
  EXPECT_NE(keys.find("admin.tokens (token map"), std::string::npos) << keys;
}

}  // namespace
}  // namespace lockstep
