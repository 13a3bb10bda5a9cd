--[[
man.lua — a pandoc filter that turns an operator document of docs/ into a
man page, so that docs/*.md stay the one source of both.

The document's title (its first level-1 heading) gives way to NAME (from
the metadata `name` and `description`) and DESCRIPTION (the paragraphs
before the first section); each `##` becomes a section (.SH, upper case),
each `###` a subsection (.SS). Images (screenshots) are left out. Links to
another document become a reference to its man page, links within the
document plain text; web links stay. SEE ALSO lists the other pages
(metadata `see_also`). docs/man/build.ninja names the pages.
--]]

local pages = {
  ["databusd.md"] = "databusd(8)",
  ["cli.md"] = "databusctl(8)",
  ["web.md"] = "databus-web(8)",
  ["configuration.md"] = "databus.json(5)",
  ["drivers.md"] = "databus-drivers(7)",
}

local function doc_of(target)
  return target:match("^([%w._-]+%.md)") -- "configuration.md#names"
end

local function Link(el)
  if el.target:match("^%a[%w+.-]*:") then
    return nil -- http://, mailto: ... stay
  end
  local ref = pages[doc_of(el.target) or ""]
  if ref == nil then
    return el.content
  end
  local text = pandoc.utils.stringify(el.content)
  if text:match("%.md$") or text == doc_of(el.target):gsub("%.md$", "") then
    return pandoc.Str(ref)
  end
  local out = el.content
  out:insert(pandoc.Str(" (" .. ref .. ")"))
  return out
end

local function only_images(inlines)
  for _, i in ipairs(inlines) do
    if i.t ~= "Image" and i.t ~= "Space" and i.t ~= "SoftBreak"
        and i.t ~= "LineBreak" then
      return false
    end
  end
  return true
end

local function Para(el)
  if only_images(el.content) then
    return {}
  end
end

local function Image()
  return {}
end

-- Column widths for a man page of 80 columns (about 66 characters of
-- table after the indent and the gaps between columns): each column gets
-- at least its longest word, then what is left goes to the columns that
-- want more, the narrowest wishes first, so a short first column (an
-- option, a field) is never broken and the long text column gets the rest.
local function Table(t)
  local k = #t.colspecs
  local floor, need = {}, {}
  for i = 1, k do
    floor[i], need[i] = 3, 3
  end
  local function measure(rows)
    for _, row in ipairs(rows) do
      for i, cell in ipairs(row.cells) do
        local text = pandoc.utils.stringify(cell.contents)
        need[i] = math.max(need[i], #text)
        for word in text:gmatch("%S+") do
          floor[i] = math.max(floor[i], math.min(#word, 24))
        end
      end
    end
  end
  measure(t.head.rows)
  for _, body in ipairs(t.bodies) do
    measure(body.body)
  end
  local line = 66 - 3 * (k - 1)
  local width, left = {}, line
  for i = 1, k do
    width[i] = floor[i]
    left = left - floor[i]
  end
  local order = {}
  for i = 1, k do
    order[i] = i
  end
  table.sort(order, function(a, b) return need[a] < need[b] end)
  for n, i in ipairs(order) do
    local share = math.max(left, 0) / (k - n + 1)
    local extra = math.min(need[i] - width[i], share)
    if extra > 0 then
      width[i] = width[i] + extra
      left = left - extra
    end
  end
  for i, spec in ipairs(t.colspecs) do
    t.colspecs[i] = {spec[1], width[i] / 70}
  end
  return t
end

function Pandoc(doc)
  local m = doc.meta
  local blocks = pandoc.List()
  local name = pandoc.utils.stringify(m.name)
  blocks:insert(pandoc.Header(1, "NAME"))
  blocks:insert(pandoc.Para(name .. " - " ..
    pandoc.utils.stringify(m.description)))
  blocks:insert(pandoc.Header(1, "DESCRIPTION"))
  local titled = false
  for _, b in ipairs(doc.blocks) do
    if b.t == "Header" and b.level == 1 and not titled then
      titled = true -- the document's title: NAME says it
    elseif b.t == "Header" then
      local level = math.max(b.level - 1, 1)
      if level == 1 then
        b = pandoc.Header(1, pandoc.text.upper(
          pandoc.utils.stringify(b.content)), b.attr)
      else
        b.level = level
      end
      blocks:insert(b)
    else
      blocks:insert(b)
    end
  end
  if m.see_also then
    blocks:insert(pandoc.Header(1, "SEE ALSO"))
    blocks:insert(pandoc.Para(pandoc.utils.stringify(m.see_also)))
  end
  doc.blocks = blocks
  return doc:walk({Link = Link, Image = Image, Table = Table}):walk({Para = Para})
end
