// SPDX-License-Identifier: MIT
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfsym.h"
#include "log.h"

/* A Go function we disassemble is a few KiB; refuse anything silly. */
#define ELFSYM_FUNC_MAX (1u << 20)

static bool elfsym_ready(void)
{
	static int ok = -1;

	if (ok < 0)
		ok = elf_version(EV_CURRENT) != EV_NONE;
	return ok;
}

/* A symbol's address to its offset in the file, through the loadable
 * executable segment that maps it: uprobes are placed by offset. */
static size_t vaddr_to_offset(Elf *elf, GElf_Addr addr)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X))
			continue;
		if (addr >= ph.p_vaddr && addr < ph.p_vaddr + ph.p_memsz)
			return addr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void match_symbol(Elf *elf, const GElf_Sym *sym, const char *name,
			 struct elfsym_query *q)
{
	for (size_t i = 0; i < q->n; i++) {
		if (q->offsets[i] || strcmp(name, q->names[i]) != 0)
			continue;
		q->offsets[i] = vaddr_to_offset(elf, sym->st_value);
		if (q->sizes)
			q->sizes[i] = sym->st_size;
	}
}

static void scan_symtab(Elf *elf, Elf_Scn *scn, struct elfsym_query *q)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!data || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym) ||
		    sym.st_shndx == SHN_UNDEF ||
		    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (name)
			match_symbol(elf, &sym, name, q);
	}
}

/* Opens path as ELF; *fd and the result must be closed by the caller. */
static Elf *elfsym_open(const char *path, int *fd)
{
	Elf *elf;

	if (!elfsym_ready())
		return NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		close(*fd);
		return NULL;
	}
	return elf;
}

int elfsym_lookup(const char *path, struct elfsym_query *q)
{
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	memset(q->offsets, 0, q->n * sizeof(*q->offsets));
	if (q->sizes)
		memset(q->sizes, 0, q->n * sizeof(*q->sizes));
	elf = elfsym_open(path, &fd);
	if (!elf)
		return -ENOEXEC;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_DYNSYM ||
					       sh.sh_type == SHT_SYMTAB))
			scan_symtab(elf, scn, q);
	}
	elf_end(elf);
	close(fd);
	return 0;
}

/* Go's linker always writes its build info section, stripped or not. */
#define GO_BUILDINFO_SECTION ".go.buildinfo"

int elfsym_is_stripped_go(const char *path)
{
	bool symtab = false, go = false;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *elf;
	int fd;

	elf = elfsym_open(path, &fd);
	if (!elf)
		return -ENOEXEC;
	if (elf_getshdrstrndx(elf, &shstrndx))
		shstrndx = 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		symtab |= sh.sh_type == SHT_SYMTAB;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		go |= name && strcmp(name, GO_BUILDINFO_SECTION) == 0;
	}
	elf_end(elf);
	close(fd);
	return go && !symtab;
}

static uint8_t *read_range(const char *path, size_t offset, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (buf && fd >= 0)
		n = pread(fd, buf, size, (off_t)offset);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)size) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Instruction boundaries need a real decoder: a 0xc3 byte inside
 * another instruction is not a return, and a uprobe placed there would
 * corrupt the program. Capstone decodes x86-64 exactly.
 */
int elfsym_find_rets(const char *path, size_t offset, size_t size,
		     size_t *out, int max)
{
	cs_insn *insn = NULL;
	uint8_t *code;
	csh handle;
	size_t count;
	int found = 0;

	if (!size || size > ELFSYM_FUNC_MAX)
		return -EINVAL;
	code = read_range(path, offset, size);
	if (!code)
		return -EIO;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) {
		free(code);
		return -ENOTSUP;
	}
	count = cs_disasm(handle, code, size, 0, 0, &insn);
	for (size_t i = 0; i < count && found < max; i++) {
		if (insn[i].id == X86_INS_RET)
			out[found++] = offset + insn[i].address;
	}
	cs_free(insn, count);
	cs_close(&handle);
	free(code);
	return count ? found : -EBADMSG;
}

/* How far into a wrapper its call may be. */
#define WRAPPER_SCAN_BYTES 24

/* Instructions that leave the argument registers alone. */
static bool keeps_args(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	if (insn->id == X86_INS_ENDBR64 || insn->id == X86_INS_PUSH)
		return true;
	return insn->id == X86_INS_SUB && x->op_count == 2 &&
	       x->operands[0].type == X86_OP_REG &&
	       x->operands[0].reg == X86_REG_RSP &&
	       x->operands[1].type == X86_OP_IMM;
}

/* The file offset a direct call in code read at offset goes to. */
static size_t call_target(const cs_insn *insn, size_t offset)
{
	const cs_x86 *x = &insn->detail->x86;

	if (insn->id != X86_INS_CALL || x->op_count != 1 ||
	    x->operands[0].type != X86_OP_IMM)
		return 0;
	/* Addresses were decoded relative to the start of the code, at 0,
	 * so the target is an offset from there too. */
	return offset + (size_t)x->operands[0].imm;
}

static bool starts_with_push(const char *path, size_t offset, csh h)
{
	uint8_t *code = read_range(path, offset, 16);
	cs_insn *insn = NULL;
	size_t n;
	bool ok;

	if (!code)
		return false;
	n = cs_disasm(h, code, 16, 0, 1, &insn);
	ok = n == 1 && insn[0].id == X86_INS_PUSH;
	cs_free(insn, n);
	free(code);
	return ok;
}

static size_t scan_wrapper(const char *path, size_t offset, csh h)
{
	uint8_t *code = read_range(path, offset, WRAPPER_SCAN_BYTES);
	cs_insn *insn = NULL;
	size_t n, target = 0;

	if (!code)
		return 0;
	n = cs_disasm(h, code, WRAPPER_SCAN_BYTES, 0, 0, &insn);
	for (size_t i = 0; i < n && !target; i++) {
		target = call_target(&insn[i], offset);
		if (!target && !keeps_args(&insn[i]))
			break;
	}
	cs_free(insn, n);
	free(code);
	return target;
}

size_t elfsym_wrapper_target(const char *path, size_t offset)
{
	size_t target;
	csh h;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return 0;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	target = scan_wrapper(path, offset, h);
	if (target && !starts_with_push(path, target, h))
		target = 0;
	cs_close(&h);
	return target;
}

bool elfsym_calls(const char *path, size_t offset, size_t len,
		  size_t target)
{
	uint8_t *code = read_range(path, offset, len);
	cs_insn *insn = NULL;
	bool found = false;
	size_t n = 0;
	csh h;

	if (!code || cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
		free(code);
		return false;
	}
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	n = cs_disasm(h, code, len, 0, 0, &insn);
	for (size_t i = 0; i < n && !found; i++)
		found = call_target(&insn[i], offset) == target;
	cs_free(insn, n);
	cs_close(&h);
	free(code);
	return found;
}
