// postalias: being written (lookup tables issue).
import Util
Diagnostics.programName = "postalias"
Diagnostics.fatal("postalias is not available in this build yet")
