// newaliases: being written (lookup tables issue).
import Util
Diagnostics.programName = "newaliases"
Diagnostics.fatal("newaliases is not available in this build yet")
