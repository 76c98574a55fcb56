// Walks a Jenkinsfile's declarative DSL without Jenkins (a test helper of
// internal/scaffold) and prints every call as a path:
// pipeline/stages/stage(build)/steps/sh(pipeline build). Closures run in
// order, so conditions and script blocks are walked too.
class Anything {
    def methodMissing(String name, args) { new Anything() }
    def propertyMissing(String name) { new Anything() }
    boolean asBoolean() { true }
    boolean isEmpty() { true }
    String toString() { "ANY" }
}
class Walker {
    List<String> path = []
    def methodMissing(String name, args) {
        def label = name
        def first = args ? args[0] : null
        if (first instanceof CharSequence) label += "(" + first.toString() + ")"
        else if (first instanceof Map) label += "(" + first.keySet().sort().join(",") + ")"
        println((path + [label]).join("/"))
        def body = args ? args.find { it instanceof Closure } : null
        if (body) {
            path.push(label)
            body.delegate = this
            body.resolveStrategy = Closure.DELEGATE_FIRST
            body.call()
            path.pop()
        }
        return new Anything()
    }
    def propertyMissing(String name) { new Anything() }
}
def shell = new GroovyShell()
def script = shell.parse(new File(args[0]))
def walker = new Walker()
script.metaClass.methodMissing = { String name, a -> walker.methodMissing(name, a) }
script.metaClass.propertyMissing = { String name -> new Anything() }
script.run()
