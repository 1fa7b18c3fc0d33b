/* The PluginABI target exists so Swift can import pgproxy_plugin.h; it has no code of its own. */
#include "pgproxy_plugin.h"
