// LogQL and TraceQL for CodeMirror on Grafana's lezer grammars, with highlighting and
// completion from this server's Loki and Tempo label APIs.

import type { CompletionContext, CompletionResult } from '@codemirror/autocomplete';
import { LRLanguage, LanguageSupport } from '@codemirror/language';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { styleTags, tags as t } from '@lezer/highlight';
import { getJSON } from './util';

const cache = new Map<string, Promise<string[]>>();

function cached(key: string, load: () => Promise<string[]>): Promise<string[]> {
  let v = cache.get(key);
  if (!v) {
    v = load().catch(() => []);
    cache.set(key, v);
    setTimeout(() => cache.delete(key), 60_000);
  }
  return v;
}

const logqlLang = LRLanguage.define({
  name: 'logql',
  parser: logqlParser.configure({
    props: [
      styleTags({
        'Json Logfmt Unpack Pattern Regexp Unwrap LabelFormat LineFormat LabelReplace Decolorize Drop Keep By Without And Or Unless Bool On Ignoring GroupLeft GroupRight Offset Ip': t.keyword,
        'Sum Avg Count Max Min Stddev Stdvar Bottomk Topk Sort Sort_Desc CountOverTime Rate RateCounter BytesOverTime BytesRate AvgOverTime SumOverTime MinOverTime MaxOverTime StddevOverTime StdvarOverTime QuantileOverTime FirstOverTime LastOverTime AbsentOverTime Vector': t.function(t.variableName),
        String: t.string,
        'Number Duration Bytes Range': t.number,
        'Identifier LabelName': t.labelName,
        LineComment: t.comment,
        'Eq Neq Re Nre PipeExact PipeMatch PipePattern Npa Pipe Gtr Gte Lss Lte Eql Add Sub Mul Div Mod Pow': t.operator,
      }),
    ],
  }),
  languageData: { commentTokens: { line: '#' } },
});

/** Label names inside `{...}` or after `by (`, label values after `name="`. */
async function logqlComplete(ctx: CompletionContext): Promise<CompletionResult | null> {
  const before = ctx.state.sliceDoc(0, ctx.pos);
  const value = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(before);
  const inBraces = before.lastIndexOf('{') > before.lastIndexOf('}');
  if (value && inBraces) {
    const values = await cached(`lv:${value[1]}`, async () => (await getJSON(`/loki/api/v1/label/${encodeURIComponent(value[1])}/values`)).data || []);
    return { from: ctx.pos - value[3].length, options: values.map((v) => ({ label: v, type: 'text' })), validFor: /^[^"]*$/ };
  }
  const name = /(?:[{,(]\s*)([A-Za-z_][A-Za-z0-9_]*)?$/.exec(before);
  if (name && (inBraces || /by\s*\([^)]*$/.test(before))) {
    const word = name[1] || '';
    if (!word && !ctx.explicit && !/[{,(]\s*$/.test(before)) return null;
    const names = await cached('ln', async () => (await getJSON('/loki/api/v1/labels')).data || []);
    return { from: ctx.pos - word.length, options: names.map((n) => ({ label: n, type: 'property', apply: inBraces ? `${n}="` : n })), validFor: /^\w*$/ };
  }
  const word = ctx.matchBefore(/\w+/);
  if (!word || (word.from === word.to && !ctx.explicit)) return null;
  const kw = ['json', 'logfmt', 'unpack', 'pattern', 'regexp', 'line_format', 'label_format', 'drop', 'keep', 'unwrap', 'decolorize', 'count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'sum_over_time', 'avg_over_time', 'max_over_time', 'min_over_time', 'quantile_over_time', 'sum', 'avg', 'count', 'max', 'min', 'topk', 'bottomk', 'by', 'without'];
  return { from: word.from, options: kw.map((k) => ({ label: k, type: 'keyword' })) };
}

export function logql(): LanguageSupport {
  return new LanguageSupport(logqlLang, logqlLang.data.of({ autocomplete: logqlComplete }));
}

const traceqlLang = LRLanguage.define({
  name: 'traceql',
  parser: traceqlParser.configure({
    props: [
      styleTags({
        'Parent Event Instrumentation Link Resource Span': t.keyword,
        'Aggregate SelectOperation CoalesceOperation GroupOperation MetricsOverTimeType MetricsAggregatorFunctionType': t.function(t.variableName),
        IntrinsicField: t.keyword,
        'Identifier AttributeField': t.propertyName,
        String: t.string,
        'Integer Float Duration': t.number,
        Static: t.literal,
        'LineComment BlockComment': t.comment,
        'FieldOp ComparisonOp ScalarOp And Or Gt Lt Desc Anc Pipe': t.operator,
      }),
    ],
  }),
});

async function traceqlComplete(ctx: CompletionContext): Promise<CompletionResult | null> {
  const before = ctx.state.sliceDoc(0, ctx.pos);
  const value = /([\w.]+)\s*(=|!=|=~|!~)\s*"([^"]*)$/.exec(before);
  if (value) {
    const tag = value[1].replace(/^\./, 'span.');
    const vals = await cached(`tv:${tag}`, async () => ((await getJSON(`/api/v2/search/tag/${encodeURIComponent(tag)}/values`)).tagValues || []).map((v: { value: string }) => v.value));
    return { from: ctx.pos - value[3].length, options: vals.map((v) => ({ label: v, type: 'text' })), validFor: /^[^"]*$/ };
  }
  const word = ctx.matchBefore(/[\w.]+/);
  if (!word || (word.from === word.to && !ctx.explicit)) return null;
  const tags = await cached('tags', async () => {
    const scopes = (await getJSON('/api/v2/search/tags')).scopes || [];
    return scopes.flatMap((s: { name: string; tags: string[] }) => s.tags.map((tag) => (s.name === 'intrinsic' ? tag : `${s.name}.${tag}`)));
  });
  return { from: word.from, options: [...tags, 'duration', 'name', 'status', 'kind', 'span.', 'resource.'].map((l) => ({ label: l, type: 'property' })) };
}

export function traceql(): LanguageSupport {
  return new LanguageSupport(traceqlLang, traceqlLang.data.of({ autocomplete: traceqlComplete }));
}
