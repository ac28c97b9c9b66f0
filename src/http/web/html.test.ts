import assert from 'node:assert/strict';
import { test } from 'node:test';
import { html } from './html.js';

test('html escapes interpolated text, in content and in attributes', () => {
  const name = `<script>alert("x")</script> & 'quotes'`;
  assert.equal(
    html`<p title="${name}">${name}</p>`.text,
    '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;</p>',
  );
});

test('html keeps fragments, joins lists and drops false, null and undefined', () => {
  const items = ['a<', 'b'].map((item) => html`<li>${item}</li>`);
  assert.equal(html`<ul>${items}</ul>${false}${null}${undefined}${0}`.text, '<ul><li>a&lt;</li><li>b</li></ul>0');
  assert.equal(html`${true && html`<b>yes</b>`}`.text, '<b>yes</b>');
});
