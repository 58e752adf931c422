// postmap: being written (lookup tables issue).
import Util
Diagnostics.programName = "postmap"
Diagnostics.fatal("postmap is not available in this build yet")
