// postalias: create, update, query and list Postfix alias databases, as
// Postfix 3.7's postalias(1): `postalias [-Nfinoprsuvw] [-c config_dir]
// [-d key] [-q key] [type:]file ...`. Building reads an aliases(5) file and
// writes NAME.db or NAME.lmdb through a temporary file renamed into place,
// with the entries Postfix adds to every alias database (YP_LAST_MODIFIED,
// YP_MASTER_NAME, and the `@` sentinel that tells readers the database is
// complete). newaliases runs this program for each $alias_database table.
//
// SECURITY: runs with the invoking user's privileges; as root it builds a
// database as the owner of a non-root source file (unless -o), as Postfix.
// STANDARDS: postalias(1), aliases(5).
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG),
// default_database_type, myhostname, berkeley_db_create_buffer_size,
// berkeley_db_read_buffer_size, lmdb_map_size.
import Glibc
import Util
import Global
import Tables

Diagnostics.programName = "postalias"
let usageText = "usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file..."
let options = TableCommandOptions.parse(Array(CommandLine.arguments.dropFirst()), letters: "c:d:finNopq:rsuvw",
                                        program: "postalias") { Diagnostics.fatal(usageText) }
if options.tables.isEmpty { Diagnostics.fatal(usageText) }

let config = MailConfig.loadOrExit(option: options.configDirectory, programName: "postalias")
let command = TableCommand(options: options, config: config) { key, value in key + ":\t" + value }

command.runQueryModesAndExit()

for operand in options.tables {
    let (type, name) = command.reference(operand)
    AliasDatabaseBuilder(builder: TableBuilder(type: type, name: name, options: options, config: config)).run()
}
StandardOutput().flush()
exit(0)
