// A Sparkplug B edge node on Eclipse Tahu's JavaScript client (sparkplug-client), for the
// gateway's tests. It connects to the broker on 127.0.0.1:$SP_PORT as $SP_GROUP/$SP_NODE with one
// device $SP_DEVICE, answers every 'birth' (connect) and every rebirth request (NCMD
// "Node Control/Rebirth") with NBIRTH + DBIRTH, and takes one JSON command a line on stdin:
//   {"op":"ddata","device":"press-1","values":{"Motor/Temperature":71.25}}  DDATA by alias
//   {"op":"ddata","device":"press-1","values":{…},"remember":false}         …not kept for the next birth
//   {"op":"gap","skip":2}                    skips seq numbers, as if messages were lost
//   {"op":"alias","device":"press-1","alias":99,"value":5}   DDATA with an alias no birth gave
//   {"op":"ddeath","device":"press-1"}       DDEATH
//   {"op":"ndeath"}                          NDEATH (the client's own death), then disconnect
//   {"op":"dbirth","device":"press-2","metrics":[{"name":"a","alias":1,"type":"Double","value":1,"unit":"degC"}]}
//                                            a DBIRTH with these metrics ("NaN" is NaN; Int64/UInt64
//                                            values as text keep all their digits); later DDATA of
//                                            that device by name: {"op":"ddata","device":"press-2","values":{"a":2}}
//   {"op":"compress","algorithm":"GZIP"}     Tahu's {compress: true} for every later payload (births
//                                            too); no algorithm: DEFLATE, without the algorithm metric
// It reports on stdout, one JSON object a line: connected, births, rebirth-request, done.
'use strict';

const readline = require('readline');
const Long = require('long');
const sparkplug = require('sparkplug-client');

const port = process.env.SP_PORT;
const group = process.env.SP_GROUP || 'plant-sp';
const node = process.env.SP_NODE || 'edge-1';
const deviceId = process.env.SP_DEVICE || 'press-1';

// The device's metrics: name → alias, Sparkplug data type, engineering unit, current value.
const deviceMetrics = {
  'Motor/Temperature': { alias: 1, type: 'Double', unit: 'degC', value: 70.5 },
  'Spindle Speed': { alias: 2, type: 'UInt32', unit: 'rpm', value: 1200 },
  'Vibration': { alias: 3, type: 'Float', unit: 'mm/s', value: 2.5 },
  'Running': { alias: 4, type: 'Boolean', value: true },
  'Offset': { alias: 5, type: 'Int16', value: -12 },
  'Part Count': { alias: 6, type: 'Int64', value: 123456789012 },
  'Serial': { alias: 7, type: 'String', value: 'SN-0001' },
};
const nodeMetrics = {
  'Uptime': { alias: 100, type: 'Double', unit: 's', value: 3600 },
};

// Devices born with {"op":"dbirth"}: device → metric name → definition.
const extraDevices = {};
// Tahu's publish options for every payload ({"op":"compress"}).
let publishOptions;

let last = 0;
function now() {
  // Strictly increasing event times, so each message is newer than the one before.
  last = Math.max(Date.now(), last + 1);
  return last;
}

function report(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function birthMetrics(metrics, timestamp) {
  return Object.entries(metrics).map(([name, m]) => ({
    name,
    alias: m.alias,
    timestamp,
    type: m.type,
    value: m.value,
    ...(m.unit ? { properties: { engUnit: { type: 'String', value: m.unit } } } : {}),
  }));
}

const client = sparkplug.newClient({
  serverUrl: `mqtt://127.0.0.1:${port}`,
  username: process.env.SP_USERNAME || '',
  password: process.env.SP_PASSWORD || '',
  groupId: group,
  edgeNode: node,
  clientId: `${group}-${node}-${process.pid}`,
  publishDeath: true,
  version: 'spBv1.0',
});

let births = 0;
function publishBirths() {
  const timestamp = now();
  client.publishNodeBirth({
    timestamp,
    metrics: [{ name: 'Node Control/Rebirth', timestamp, type: 'Boolean', value: false }, ...birthMetrics(nodeMetrics, timestamp)],
  }, publishOptions);
  client.publishDeviceBirth(deviceId, { timestamp, metrics: birthMetrics(deviceMetrics, timestamp) }, publishOptions);
  for (const [device, metrics] of Object.entries(extraDevices)) {
    client.publishDeviceBirth(device, { timestamp, metrics: birthMetrics(metrics, timestamp) }, publishOptions);
  }
  births++;
  report({ event: 'births', count: births });
}

client.on('connect', () => report({ event: 'connected' }));
client.on('birth', publishBirths);
client.on('ncmd', (payload) => {
  const rebirth = (payload.metrics || []).some((m) => m.name === 'Node Control/Rebirth' && m.value === true);
  if (rebirth) {
    report({ event: 'rebirth-request' });
    publishBirths();
  }
});
client.on('error', (error) => report({ event: 'error', message: String(error) }));

// A value as the command gives it: "NaN" is NaN, a 64-bit integer may come as text.
function typed(type, value) {
  if (value === 'NaN') {
    return NaN;
  }
  if (typeof value === 'string' && /^U?Int64$/.test(type)) {
    return Long.fromString(value, type === 'UInt64');
  }
  return value;
}

function data(device, values, remember) {
  const timestamp = now();
  const known = extraDevices[device] || deviceMetrics;
  const metrics = Object.entries(values).map(([name, raw]) => {
    const m = known[name];
    const value = typed(m.type, raw);
    if (remember !== false) {
      m.value = value;
    }
    // By alias, as an edge node sends data after its birth (by name when the birth gave none).
    return m.alias !== undefined ? { alias: m.alias, timestamp, type: m.type, value } : { name, timestamp, type: m.type, value };
  });
  client.publishDeviceData(device, { timestamp, metrics }, publishOptions);
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (!line.trim()) {
    return;
  }
  const command = JSON.parse(line);
  switch (command.op) {
    case 'ddata':
      data(command.device, command.values, command.remember);
      break;
    case 'gap':
      // The client keeps its next seq in a private field: skipping numbers is what a lost message looks like.
      client.seq = (client.seq + command.skip) % 256;
      break;
    case 'alias': {
      const timestamp = now();
      client.publishDeviceData(command.device, { timestamp, metrics: [{ alias: command.alias, timestamp, type: 'Double', value: command.value }] }, publishOptions);
      break;
    }
    case 'dbirth': {
      const metrics = {};
      for (const m of command.metrics) {
        metrics[m.name] = { alias: m.alias, type: m.type, unit: m.unit, value: typed(m.type, m.value) };
      }
      extraDevices[command.device] = metrics;
      const timestamp = now();
      client.publishDeviceBirth(command.device, { timestamp, metrics: birthMetrics(metrics, timestamp) }, publishOptions);
      break;
    }
    case 'compress':
      publishOptions = command.algorithm ? { compress: true, algorithm: command.algorithm } : { compress: true };
      break;
    case 'ddeath':
      client.publishDeviceDeath(command.device, { timestamp: now(), metrics: [] });
      break;
    case 'ndeath':
      client.stop();
      break;
    default:
      report({ event: 'error', message: `unknown op ${command.op}` });
      return;
  }
  report({ event: 'done', op: command.op, seq: client.seq });
});
input.on('close', () => {
  if (client.connected !== false) {
    try { client.stop(); } catch (e) { /* already stopped */ }
  }
});
