// postmap: create, update, query and list Postfix lookup tables, as
// Postfix 3.7's postmap(1): `postmap [-NfinoprsuvwbhmUF] [-c config_dir]
// [-d key] [-q key] [type:]file ...`. Building reads a `key whitespace
// value` source file and writes NAME.db or NAME.lmdb through a temporary
// file that is renamed into place; -i adds entries from standard input to
// the existing table; -q, -d and -s query, delete and list.
//
// SECURITY: runs with the invoking user's privileges; as root it builds a
// table as the owner of a non-root source file (unless -o), as Postfix.
// STANDARDS: postmap(1).
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG),
// default_database_type, berkeley_db_create_buffer_size,
// berkeley_db_read_buffer_size, lmdb_map_size.
import Glibc
import Util
import Global
import Tables

Diagnostics.programName = "postmap"
let usageText = "usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file..."
let options = TableCommandOptions.parse(Array(CommandLine.arguments.dropFirst()), letters: "bc:d:fFhimnNopq:rsuUvw",
                                        program: "postmap") { Diagnostics.fatal(usageText) }
if options.tables.isEmpty { Diagnostics.fatal(usageText) }

let config = MailConfig.loadOrExit(option: options.configDirectory, programName: "postmap")
let command = TableCommand(options: options, config: config) { key, value in key + "\t" + value }

command.runQueryModesAndExit()

for operand in options.tables {
    let (type, name) = command.reference(operand)
    PostmapBuilder(builder: TableBuilder(type: type, name: name, options: options, config: config)).run()
}
StandardOutput().flush()
exit(0)
