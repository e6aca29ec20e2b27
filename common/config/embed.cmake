file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "#include <string>\nnamespace lockstep {\nstatic const unsigned char kText[] = {${bytes} 0};\nconst std::string& builtin_config_text() { static const std::string s(reinterpret_cast<const char*>(kText)); return s; }\n}\n")
