// PostconfEditor: postconf's editing modes (-e, -X, -#, -M/-F/-P edits).
import Util

struct PostconfEditor {
    let options: PostconfOptions
    let configDirectory: String

    func run() -> Int32 {
        Diagnostics.fatal("editing is not available in this build")
    }
}
