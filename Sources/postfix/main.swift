// postfix: the control command (start, stop, reload, check ...).
import Util
Diagnostics.programName = "postfix"
Diagnostics.fatal("usage: postfix [-c config_dir] [-Dv] command")
