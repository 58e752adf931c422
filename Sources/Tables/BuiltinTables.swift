// BuiltinTables: registers every table type this build has with TableOpener.
// Each type's file adds one line here.

enum BuiltinTables {
    static func registerAll() {
        TableOpener.register("static") { _, name, _ in StaticTable(name: name) }
        TableOpener.register("inline") { _, name, _ throws(LookupError) in try InlineTable(name: name) }
        TableOpener.register("texthash") { _, name, _ throws(LookupError) in try TextHashTable(path: name) }
        TableOpener.register("unix") { _, name, _ throws(LookupError) in try UnixTable(name: name) }
        TableOpener.register("fail") { _, name, _ in FailTable(name: name) }
        TableOpener.register("hash") { type, name, context throws(LookupError) in try BerkeleyDBTable(type: type, name: name, context: context) }
        TableOpener.register("btree") { type, name, context throws(LookupError) in try BerkeleyDBTable(type: type, name: name, context: context) }
        TableOpener.register("lmdb") { type, name, context throws(LookupError) in try LMDBTable(type: type, name: name, context: context) }
        TableOpener.register("regexp") { type, name, context throws(LookupError) in try RegexpTable(type: type, name: name, context: context) }
        TableOpener.register("pcre") { type, name, context throws(LookupError) in try PCRETable(type: type, name: name, context: context) }
        TableOpener.register("cidr") { type, name, context throws(LookupError) in try CIDRTable(type: type, name: name, context: context) }
        TableOpener.register("mysql") { type, name, context throws(LookupError) in try MySQLTable(type: type, name: name, context: context) }
        TableOpener.register("sqlite") { type, name, context throws(LookupError) in try SQLiteTable(type: type, name: name, context: context) }
        TableOpener.register("proxy") { type, name, context throws(LookupError) in try ProxyTable(type: type, name: name, context: context) }
    }
}
