// Asynchronous, atomic float32 RGBA EXR writing of captured frames (lmv SPEC section 2).
#pragma once

#include "CoreMinimal.h"
#include "Async/Future.h"

class IImageWrapperModule;

/** Pixels of one buffer of one exported frame, as read back from its float render target. */
struct FLmvBufferPixels
{
	/** Buffer folder under the base path, e.g. the BufferName of a capture item. */
	FString Folder;
	/** Width * Height values, row-major, top row first; raw floats (read with RCM_MinMax, no range compression). */
	TArray<FLinearColor> Pixels;
};

/** One exported frame: filled by a render-thread read-back, then written by worker threads. */
struct FLmvFrame
{
	/** k of frame_<k>.EXR: the capture manager's frame index minus its warm-up frames. */
	int32 ExportIndex = 0;
	FIntPoint Size = FIntPoint::ZeroValue;
	TArray<FLmvBufferPixels> Buffers;
};

using FLmvFramePtr = TSharedPtr<FLmvFrame, ESPMode::ThreadSafe>;

/**
 * Writes frames as <BasePath>/<Folder>/frame_<k>.EXR through the ImageWrapper module
 * (EImageFormat::EXR, SetRaw(..., ERGBFormat::RGBA, 32) in UE 4.27, RGBAF in UE 5: four float32 channels R, G, B, A).
 *
 * Each buffer is encoded on the thread pool; a file is written under a temporary name and renamed, so a
 * frame file either is complete or does not exist. The frame number comes with the frame, so the order in
 * which the pool finishes does not matter. Memory stays bounded: Submit waits for the oldest writes when
 * more than MaxFramesInFlight frames are pending.
 */
class LMVCAPTURE_API FLmvFrameWriter
{
public:
	FLmvFrameWriter(const FString& InBasePath, bool bInCompress, int32 InMaxFramesInFlight);
	/** Waits for every pending write. */
	~FLmvFrameWriter();

	FLmvFrameWriter(const FLmvFrameWriter&) = delete;
	FLmvFrameWriter& operator=(const FLmvFrameWriter&) = delete;

	/** Queues every buffer of Frame; the writer keeps Frame alive until its files are written. */
	void Submit(const FLmvFramePtr& Frame);

	/** Waits for every pending write; returns the number of failed files so far. */
	int32 Flush();

	/** One message per file that could not be written (path and reason), in the order they were noticed. */
	const TArray<FString>& GetErrors() const { return Errors; }

	/** Number of files written successfully so far. */
	int32 GetFilesWritten() const { return FilesWritten; }

	/** <BasePath>/<Folder>/frame_<k>.EXR (the name lmv's schema expects: no zero padding, upper-case extension). */
	static FString FramePath(const FString& BasePath, const FString& Folder, int32 ExportIndex);

	/**
	 * Encodes Pixels (Size.X * Size.Y values) as a float32 RGBA EXR, ZIP-compressed (lossless) when bCompress,
	 * and writes it to Path via a temporary file. Returns false and sets OutError (naming Path) on failure.
	 * Thread-safe: the ImageWrapper module must already be loaded (FLmvCaptureModule::StartupModule does it).
	 */
	static bool WriteExr(IImageWrapperModule& ImageWrapper, const FString& Path, const TArray<FLinearColor>& Pixels,
		FIntPoint Size, bool bCompress, FString& OutError);

	/** Writes Text to Path via a temporary file (UTF-8). Returns false on failure. */
	static bool WriteTextFile(const FString& Path, const FString& Text);

private:
	/** Takes the results of finished writes; then waits for the oldest until at most MaxPending remain. */
	void Collect(int32 MaxPending);

	FString BasePath;
	bool bCompress = true;
	int32 MaxFramesInFlight = 2;
	int32 BuffersPerFrame = 1;
	int32 FilesWritten = 0;
	IImageWrapperModule* ImageWrapper = nullptr;
	/** One future per buffer file; its value is the error message, empty on success. Oldest first. */
	TArray<TFuture<FString>> Pending;
	TArray<FString> Errors;
};
