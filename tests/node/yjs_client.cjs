// A stock yjs + y-websocket client (the packages of web/, unchanged) driven by a test: it
// connects to `<server url> <room>` as `<name>`, then reads one JSON command a line on stdin
// and answers with one JSON object a line on stdout. It leaves when stdin ends.
//
//   {"op": "edit"}                           meta.from_<name> = name; notes += "<name>;"
//   {"op": "set", "path": [...], "value": v} set a value in nested maps (path from a root map)
//   {"op": "awareness", "state": {...}}      its awareness state
//   {"op": "dump"}                           -> {"event": "dump", "content": ..., "awareness": ...}
//
// It says {"event": "synced"} once synced with the server.

'use strict'

const path = require('node:path')
const readline = require('node:readline')
const { createRequire } = require('node:module')

// The packages come from web/, one copy each (y-websocket must use the same yjs as we do).
const web = createRequire(path.join(__dirname, '..', '..', 'web', 'package.json'))
const Y = web('yjs')
const { WebsocketProvider } = web('y-websocket')
const WebSocket = web('ws') // Node 20 has no global WebSocket

const [serverUrl, room, name] = process.argv.slice(2)
const doc = new Y.Doc()
const provider = new WebsocketProvider(serverUrl, room, doc, {
  WebSocketPolyfill: WebSocket,
  disableBc: true
})

const say = (message) => process.stdout.write(JSON.stringify(message) + '\n')

provider.on('sync', (synced) => {
  if (synced) say({ event: 'synced' })
})

const roots = ['meta', 'simulation', 'populations', 'projections', 'stimuli', 'monitors', 'training']

const commands = {
  edit () {
    doc.transact(() => {
      doc.getMap('meta').set(`from_${name}`, name)
      const notes = doc.getText('notes')
      notes.insert(notes.length, `${name};`)
    })
  },
  set ({ path: [root, ...keys], value }) {
    let map = doc.getMap(root)
    for (const key of keys.slice(0, -1)) map = map.get(key)
    map.set(keys[keys.length - 1], value)
  },
  awareness ({ state }) {
    provider.awareness.setLocalState(state)
  },
  dump () {
    const content = Object.fromEntries(roots.map((root) => [root, doc.getMap(root).toJSON()]))
    content.layers = doc.getArray('layers').toJSON()
    content.comments = doc.getArray('comments').toJSON()
    content.notes = doc.getText('notes').toString()
    const awareness = Object.fromEntries(provider.awareness.getStates())
    say({ event: 'dump', content, awareness })
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line)
  commands[command.op](command)
}).on('close', () => {
  provider.destroy()
  process.exit(0)
})
